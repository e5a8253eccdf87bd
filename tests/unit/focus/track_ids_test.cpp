#include "focus/track_ids.hpp"

#include <gtest/gtest.h>

#include <set>

namespace chorus::focus {
namespace {

constexpr IdKind kS = IdKind::Stream;
constexpr IdKind kT = IdKind::Track;

// A publisher as `chorus call` before issue #14 announced itself: webrtcbin's transceiver names.
void publishLikeOldChorusCall(TrackIds& ids, ParticipantId p, IdSource src = IdSource::Metadata) {
  ids.setIds(p, src, kS, {"chorus-stream"});
  ids.setIds(p, src, kT, {"webrtctransceiver0", "webrtctransceiver1"});
}

std::string seen(const TrackIds& ids, ParticipantId sub, IdKind k, ParticipantId pub,
                 const std::string& original) {
  const std::string* s = ids.publicId(sub, k, pub, original);
  return s ? *s : std::string("<none>");
}

// Every id a subscriber sees is unique among what it sees of that kind, can be written in SDP, differs from
// its own ids, and resolves back to the publisher and original it stands for.
void expectConsistentView(const TrackIds& ids, ParticipantId sub,
                          const std::vector<ParticipantId>& publishers) {
  for (IdKind k : {kS, kT}) {
    std::set<std::string> told;
    const auto own = ids.idsOf(sub, k);
    for (ParticipantId pub : publishers) {
      if (pub == sub) continue;
      for (const auto& original : ids.idsOf(pub, k)) {
        const std::string* id = ids.publicId(sub, k, pub, original);
        ASSERT_NE(id, nullptr) << original;
        EXPECT_TRUE(TrackIds::isUsableId(*id)) << *id;
        EXPECT_TRUE(told.insert(*id).second) << "duplicate " << *id << " for subscriber " << sub;
        EXPECT_EQ(std::count(own.begin(), own.end(), *id), 0) << *id << " is the subscriber's own";
        EXPECT_EQ(ids.resolve(sub, k, *id), (TrackIds::Origin{pub, original}));
      }
    }
  }
}

TEST(TrackIds, IdsThatDoNotCollideAreForwardedUnchanged) {
  TrackIds ids;
  ids.setIds(1, IdSource::Metadata, kS, {"{a1b2}"});
  ids.setIds(1, IdSource::Metadata, kT, {"{a-audio}", "{a-video}"});
  ids.setIds(2, IdSource::Transport, kS, {"b-stream"});
  ids.setIds(2, IdSource::Transport, kT, {"b-0", "b-1"});
  for (ParticipantId p : {1, 2, 3}) ids.setConference(p, "room\nconf");
  EXPECT_EQ(seen(ids, 3, kS, 1, "{a1b2}"), "{a1b2}");
  EXPECT_EQ(seen(ids, 3, kT, 1, "{a-video}"), "{a-video}");
  EXPECT_EQ(seen(ids, 3, kT, 2, "b-1"), "b-1");
  EXPECT_EQ(seen(ids, 1, kT, 2, "b-0"), "b-0");
  EXPECT_EQ(seen(ids, 2, kT, 1, "{a-audio}"), "{a-audio}");
  EXPECT_EQ(seen(ids, 1, kT, 1, "{a-audio}"), "<none>");  // nobody sees itself
  EXPECT_EQ(ids.rewritten(), 0u);
  for (ParticipantId p : {1, 2, 3}) expectConsistentView(ids, p, {1, 2, 3});
}

TEST(TrackIds, CollidingPublishersAreToldApartTheFirstKeepsItsIds) {
  TrackIds ids;
  publishLikeOldChorusCall(ids, 1);
  publishLikeOldChorusCall(ids, 2);
  publishLikeOldChorusCall(ids, 4);
  for (ParticipantId p : {1, 2, 3, 4}) ids.setConference(p, "c");
  // The subscriber that publishes nothing itself: the first publisher (lowest peer id) keeps its ids.
  EXPECT_EQ(seen(ids, 3, kT, 1, "webrtctransceiver0"), "webrtctransceiver0");
  EXPECT_EQ(seen(ids, 3, kT, 2, "webrtctransceiver0"), "webrtctransceiver0~2");
  EXPECT_EQ(seen(ids, 3, kT, 4, "webrtctransceiver0"), "webrtctransceiver0~3");
  EXPECT_EQ(seen(ids, 3, kS, 2, "chorus-stream"), "chorus-stream~2");
  // A colliding publisher never sees anyone under its own ids (chorus call skips streams with its own id).
  EXPECT_EQ(seen(ids, 2, kS, 1, "chorus-stream"), "chorus-stream~2");
  EXPECT_EQ(seen(ids, 2, kS, 4, "chorus-stream"), "chorus-stream~3");
  EXPECT_EQ(seen(ids, 1, kT, 2, "webrtctransceiver1"), "webrtctransceiver1~2");
  for (ParticipantId p : {1, 2, 3, 4}) expectConsistentView(ids, p, {1, 2, 3, 4});
  // The subscriptions name what they were told; resolve gives the publisher's own id back.
  EXPECT_EQ(ids.resolve(3, kT, "webrtctransceiver1~3"), (TrackIds::Origin{4, "webrtctransceiver1"}));
  EXPECT_EQ(ids.resolve(3, kT, "webrtctransceiver1~9"), std::nullopt);
  EXPECT_EQ(ids.resolve(3, kS, "webrtctransceiver1"), std::nullopt);  // streams and tracks are separate
}

TEST(TrackIds, TheSameInputsGiveTheSameIds) {
  auto run = [] {
    TrackIds ids;
    for (ParticipantId p = 1; p <= 6; ++p) {
      publishLikeOldChorusCall(ids, p, p % 2 ? IdSource::Metadata : IdSource::Transport);
      ids.setConference(p, "c");
    }
    ids.removePeer(3);
    std::vector<std::string> out;
    for (ParticipantId s = 1; s <= 6; ++s) {
      for (ParticipantId p = 1; p <= 6; ++p) out.push_back(seen(ids, s, kT, p, "webrtctransceiver1"));
    }
    return out;
  };
  EXPECT_EQ(run(), run());
}

TEST(TrackIds, RepublishingKeepsTheIdsANewIdGetsItsOwn) {
  TrackIds ids;
  publishLikeOldChorusCall(ids, 1);
  publishLikeOldChorusCall(ids, 2);
  for (ParticipantId p : {1, 2, 3}) ids.setConference(p, "c");
  const auto before = seen(ids, 3, kT, 2, "webrtctransceiver0");
  ASSERT_EQ(before, "webrtctransceiver0~2");
  // Its renegotiated SDP says the same as its metadata, then it adds a screenshare track.
  publishLikeOldChorusCall(ids, 2, IdSource::Transport);
  ids.setIds(2, IdSource::Metadata, kT, {"webrtctransceiver0", "webrtctransceiver1", "webrtctransceiver2"});
  EXPECT_EQ(seen(ids, 3, kT, 2, "webrtctransceiver0"), before);
  EXPECT_EQ(seen(ids, 3, kT, 2, "webrtctransceiver2"), "webrtctransceiver2");  // nobody else has it
  EXPECT_EQ(seen(ids, 1, kT, 2, "webrtctransceiver2"), "webrtctransceiver2");
  // Publisher 1 now adds the same screenshare id: taken in 3's view, so 1's gets the suffix (sticky ids).
  // 1 itself saw 2's screenshare under the id it now publishes: that one moves, and 1 must be told again.
  EXPECT_TRUE(ids.setIds(1, IdSource::Metadata, kT,
                         {"webrtctransceiver0", "webrtctransceiver1", "webrtctransceiver2"}));
  EXPECT_EQ(seen(ids, 3, kT, 1, "webrtctransceiver2"), "webrtctransceiver2~2");
  EXPECT_EQ(seen(ids, 3, kT, 1, "webrtctransceiver0"), "webrtctransceiver0");
  EXPECT_EQ(seen(ids, 1, kT, 2, "webrtctransceiver2"), "webrtctransceiver2~2");
  EXPECT_EQ(ids.resolve(1, kT, "webrtctransceiver2~2"), (TrackIds::Origin{2, "webrtctransceiver2"}));
  EXPECT_EQ(ids.resolve(1, kT, "webrtctransceiver2"), std::nullopt);
  // The same again changes nothing.
  EXPECT_FALSE(ids.setIds(1, IdSource::Metadata, kT,
                          {"webrtctransceiver0", "webrtctransceiver1", "webrtctransceiver2"}));
  for (ParticipantId p : {1, 2, 3}) expectConsistentView(ids, p, {1, 2, 3});
}

TEST(TrackIds, AnIdThatIsNoLongerAnnouncedIsFreed) {
  TrackIds ids;
  for (ParticipantId p : {1, 2, 3}) {
    ids.setIds(p, IdSource::Metadata, kT, {"x"});
    ids.setConference(p, "c");
  }
  ids.setIds(4, IdSource::Metadata, kT, {});
  ids.setConference(4, "c");
  EXPECT_EQ(seen(ids, 4, kT, 2, "x"), "x~2");
  // It is in the metadata but not in the SDP: still announced (the union).
  ids.setIds(1, IdSource::Transport, kT, {"y"});
  EXPECT_EQ(seen(ids, 4, kT, 1, "x"), "x");
  ids.setIds(1, IdSource::Metadata, kT, {"y"});
  EXPECT_EQ(seen(ids, 4, kT, 1, "x"), "<none>");
  EXPECT_EQ(ids.resolve(4, kT, "x"), std::nullopt);
  EXPECT_EQ(seen(ids, 4, kT, 2, "x"), "x~2");  // sticky: what 4 already knows does not move
  ids.setIds(5, IdSource::Metadata, kT, {"x"});
  ids.setConference(5, "c");
  EXPECT_EQ(seen(ids, 4, kT, 5, "x"), "x");  // the freed id goes to the next one that announces it
  for (ParticipantId p : {1, 2, 3, 4, 5}) expectConsistentView(ids, p, {1, 2, 3, 4, 5});
}

TEST(TrackIds, APublisherThatLeavesFreesItsIdsInEveryView) {
  TrackIds ids;
  publishLikeOldChorusCall(ids, 1);
  publishLikeOldChorusCall(ids, 2);
  for (ParticipantId p : {1, 2, 3}) ids.setConference(p, "c");
  const std::size_t full = ids.totalEntries();
  EXPECT_EQ(full, 3u + 3u + 2u * 3u);  // 1 and 2 see each other, 3 sees both: 3 ids each
  ids.removePeer(1);
  EXPECT_EQ(ids.totalEntries(), 3u);  // 3 sees 2; 2 sees nobody
  EXPECT_EQ(ids.viewSize(2), 0u);
  EXPECT_EQ(seen(ids, 3, kT, 1, "webrtctransceiver0"), "<none>");
  EXPECT_EQ(seen(ids, 3, kT, 2, "webrtctransceiver0"), "webrtctransceiver0~2");
  EXPECT_EQ(ids.resolve(3, kT, "webrtctransceiver0"), std::nullopt);
  // The same device comes back as a new peer (new session): it gets the freed ids in 3's view.
  publishLikeOldChorusCall(ids, 7);
  ids.setConference(7, "c");
  EXPECT_EQ(seen(ids, 3, kT, 7, "webrtctransceiver0"), "webrtctransceiver0");
  EXPECT_EQ(seen(ids, 2, kT, 7, "webrtctransceiver0"), "webrtctransceiver0~2");  // 2's own id
  ids.removePeer(2);
  ids.removePeer(3);
  ids.removePeer(7);
  EXPECT_EQ(ids.totalEntries(), 0u);
}

TEST(TrackIds, HostileIdsAreNeverAnnouncedOrAreSanitised) {
  TrackIds ids;
  const std::string huge(100'000, 'a');
  const std::string max64(64, 'b');
  ids.setIds(1, IdSource::Metadata, kS,
             {"", huge, std::string(65, 's'), "with space", "line\r\na=evil", std::string("nul\0x", 5),
              "caf\xc3\xa9", "ok"});
  ids.setIds(1, IdSource::Metadata, kT, {"", "tab\there", "a/b:c=d", "\"quoted\"", max64});
  ids.setIds(2, IdSource::Metadata, kT, {max64, "a_b_c_d"});
  for (ParticipantId p : {1, 2, 3}) ids.setConference(p, "c");
  // Ids that cannot be named in SDP at all are not announced (their tracks could never be forwarded).
  EXPECT_EQ(ids.idsOf(1, kS), std::vector<std::string>{"ok"});
  for (const char* bad : {"", "with space", "line\r\na=evil", "caf\xc3\xa9"}) {
    EXPECT_EQ(seen(ids, 3, kS, 1, bad), "<none>") << bad;
  }
  EXPECT_EQ(seen(ids, 3, kS, 1, huge), "<none>");
  EXPECT_EQ(seen(ids, 3, kT, 1, "tab\there"), "<none>");
  // Any other visible ASCII is one SDP token (the SDP parser accepts it in a=msid), so it is kept.
  EXPECT_EQ(seen(ids, 3, kT, 1, "a/b:c=d"), "a/b:c=d");
  EXPECT_EQ(seen(ids, 3, kT, 1, "\"quoted\""), "\"quoted\"");
  EXPECT_EQ(seen(ids, 3, kT, 2, "a_b_c_d"), "a_b_c_d");
  // A suffix never makes an id longer than 64 characters.
  EXPECT_EQ(seen(ids, 3, kT, 1, max64), max64);
  std::string suffixed(62, 'b');  // appended, not operator+: GCC 12's -Warray-bounds false positive
  suffixed += "~2";
  EXPECT_EQ(seen(ids, 3, kT, 2, max64), suffixed);
  for (ParticipantId p : {1, 2, 3}) expectConsistentView(ids, p, {1, 2, 3});
}

TEST(TrackIds, TheAudioSlotsIdsAreTheFocussOwn) {
  TrackIds ids;
  ids.setIds(1, IdSource::Metadata, kS, {"chorus-slot-0", "chorus-slot", "my-chorus-slot-1"});
  ids.setIds(1, IdSource::Transport, kT, {"chorus-slot-3"});
  for (ParticipantId p : {1, 2}) ids.setConference(p, "c");
  EXPECT_FALSE(TrackIds::isUsableId("chorus-slot-0"));
  EXPECT_EQ(ids.idsOf(1, kS), (std::vector<std::string>{"chorus-slot", "my-chorus-slot-1"}));
  EXPECT_TRUE(ids.idsOf(1, kT).empty());
  EXPECT_EQ(seen(ids, 2, kS, 1, "chorus-slot-0"), "<none>");
}

TEST(TrackIds, EachPublisherIsCapped) {
  TrackIds ids;
  std::vector<std::string> many;
  for (int i = 0; i < 1000; ++i) many.push_back("t" + std::to_string(i));
  ids.setIds(1, IdSource::Metadata, kT, many);
  ids.setIds(1, IdSource::Transport, kT, many);
  ids.setIds(1, IdSource::Metadata, kS, many);
  ids.setConference(1, "c");
  ids.setConference(2, "c");
  EXPECT_EQ(ids.idsOf(1, kT).size(), TrackIds::kMaxTracksPerPeer);
  EXPECT_EQ(ids.idsOf(1, kS).size(), TrackIds::kMaxStreamsPerPeer);
  EXPECT_EQ(ids.viewSize(2), TrackIds::kMaxTracksPerPeer + TrackIds::kMaxStreamsPerPeer);
  // Many publishers with the same ids: every view stays within (N - 1) x the caps and stays unique.
  for (ParticipantId p = 3; p <= 40; ++p) {
    ids.setIds(p, IdSource::Metadata, kT, many);
    ids.setIds(p, IdSource::Metadata, kS, many);
    ids.setConference(p, "c");
  }
  std::vector<ParticipantId> all;
  for (ParticipantId p = 1; p <= 40; ++p) all.push_back(p);
  EXPECT_EQ(ids.viewSize(2), 39u * (TrackIds::kMaxTracksPerPeer + TrackIds::kMaxStreamsPerPeer));
  expectConsistentView(ids, 2, all);
  expectConsistentView(ids, 40, all);
}

TEST(TrackIds, ConferencesAreSeparate) {
  TrackIds ids;
  publishLikeOldChorusCall(ids, 1);
  publishLikeOldChorusCall(ids, 2);
  publishLikeOldChorusCall(ids, 3);
  ids.setConference(1, "room\nconf");
  ids.setConference(2, "\nconf");  // the same conf_id in a room the focus has not joined
  ids.setConference(3, "room\nconf");
  EXPECT_EQ(seen(ids, 1, kT, 2, "webrtctransceiver0"), "<none>");
  EXPECT_EQ(seen(ids, 1, kT, 3, "webrtctransceiver0"), "webrtctransceiver0~2");
  // Promoted into the joined room's conference: now seen, and unique there.
  ids.setConference(2, "room\nconf");
  EXPECT_EQ(seen(ids, 1, kT, 2, "webrtctransceiver0"), "webrtctransceiver0~3");
  EXPECT_EQ(seen(ids, 2, kT, 1, "webrtctransceiver0"), "webrtctransceiver0~2");
  for (ParticipantId p : {1, 2, 3}) expectConsistentView(ids, p, {1, 2, 3});
}

}  // namespace
}  // namespace chorus::focus
