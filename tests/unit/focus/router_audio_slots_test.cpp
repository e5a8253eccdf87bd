// The Router's audio slots (RouterConfig::audio_slots; focus/audio_slots.hpp for the ranking itself).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "router_test_util.hpp"

namespace chorus::focus::test {
namespace {

constexpr ParticipantId kSub = 1;
constexpr ParticipantId kFirstPublisher = 10;
constexpr int kPublishers = 5;
constexpr std::uint8_t kSilence = 127;

class RouterAudioSlotsTest : public ::testing::Test {
 protected:
  RouterAudioSlotsTest()
      : router_(sink_, [] {
          RouterConfig c = testConfig();
          c.audio_slots = 2;
          c.audio_slot_interval_ms = 200;
          c.audio_slot_hold_ms = 1000;
          return c;
        }()) {
    router_.setSubscriberPayloadType(kSub, "audio", 109);
    for (int i = 0; i < kPublishers; ++i) {
      router_.setPublishedTracks(publisher(i), {audioTrack("0", "t" + std::to_string(i))});
    }
  }

  static ParticipantId publisher(int i) { return kFirstPublisher + static_cast<ParticipantId>(i); }
  static std::uint32_t ssrcOf(int i) { return 5000 + static_cast<std::uint32_t>(i); }

  void subscribe(int i) {
    ASSERT_TRUE(router_.subscribe(kSub, publisher(i), "t" + std::to_string(i), 0, 0, now_));
  }
  void subscribeAll() {
    for (int i = 0; i < kPublishers; ++i) subscribe(i);
  }

  // 200 ms of audio (10 packets of 20 ms) from every publisher, at its level, then a tick.
  void talk(const std::map<int, std::uint8_t>& levels) {
    for (int p = 0; p < 10; ++p) {
      for (int i = 0; i < kPublishers; ++i) {
        const auto level = levels.count(i) ? levels.at(i) : kSilence;
        auto& seq = seq_[i];
        InboundRtp info;
        info.mid = "0";
        info.audio_level = level;
        const auto bytes = rtp(Pkt{ssrcOf(i), 111, seq, static_cast<std::uint32_t>(seq * 960), false, "0"});
        ++seq;
        router_.onRtp(publisher(i), info, ByteSpan(bytes), now_);
      }
      now_ += 20;
    }
    router_.tick(now_);
  }

  std::set<ParticipantId> onSlots() const {
    std::set<ParticipantId> out;
    for (const auto& s : router_.audioSlots(kSub)) {
      if (s.publisher != 0) out.insert(s.publisher);
    }
    return out;
  }

  FakeSink sink_;
  Router router_;
  TimeMs now_{kT0};
  std::map<int, std::uint16_t> seq_;
};

TEST_F(RouterAudioSlotsTest, UpToTheBoundEachTrackHasItsOwnStream) {
  subscribe(0);
  subscribe(1);
  const auto out = router_.outTracks(kSub);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].audio_slot);
  EXPECT_EQ(out[0].track_id, "t0");
  EXPECT_TRUE(router_.audioSlots(kSub).empty());
  EXPECT_EQ(router_.stats().audio_slot_subscribers, 0u);
}

TEST_F(RouterAudioSlotsTest, PastTheBoundTheSubscriberGetsTheSlotsInstead) {
  subscribe(0);
  subscribe(1);
  const auto r = router_.subscribe(kSub, publisher(2), "t2", 0, 0, now_);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->audio_slot);
  EXPECT_EQ(r->ssrc, 0u);
  const auto out = router_.outTracks(kSub);
  ASSERT_EQ(out.size(), 2u);
  for (std::size_t i = 0; i < out.size(); ++i) {
    EXPECT_TRUE(out[i].audio_slot);
    EXPECT_EQ(out[i].kind, "audio");
    EXPECT_EQ(out[i].stream_id, "chorus-slot-" + std::to_string(i));
    EXPECT_EQ(out[i].track_id, out[i].stream_id);
    EXPECT_EQ(out[i].publisher, 0u);
    EXPECT_NE(out[i].ssrc, 0u);
  }
  EXPECT_NE(out[0].ssrc, out[1].ssrc);
  // The tracks it had go on the slots at once.
  EXPECT_EQ(onSlots(), (std::set<ParticipantId>{publisher(0), publisher(1)}));
  EXPECT_EQ(router_.stats().audio_slot_subscribers, 1u);
  // More subscriptions do not add out tracks.
  subscribe(3);
  subscribe(4);
  EXPECT_EQ(router_.outTracks(kSub).size(), 2u);
}

TEST_F(RouterAudioSlotsTest, TheLoudestSubscribedTracksGoOnTheSlotsAndTheStreamStaysContinuous) {
  subscribeAll();
  ASSERT_EQ(onSlots(), (std::set<ParticipantId>{publisher(0), publisher(1)}));
  // 3 and 4 speak; 0 and 1 are silent, so they give way at the next ranking (no hold for silence).
  talk({{3, 30}, {4, 25}});
  talk({{3, 30}, {4, 25}});
  EXPECT_EQ(onSlots(), (std::set<ParticipantId>{publisher(3), publisher(4)}));
  EXPECT_GE(router_.stats().audio_slot_switches, 4u);

  // What the subscriber receives on each slot: one SSRC per slot, sequence numbers without a gap or a
  // repeat across the switch, the packets of the speakers once they are on.
  sink_.clear();
  talk({{3, 30}, {4, 25}});
  const auto slots = router_.audioSlots(kSub);
  std::map<std::uint32_t, int> packets;
  for (const auto& s : sink_.rtpTo(kSub)) {
    auto v = media::RtpPacketView::parse(s.bytes);
    ASSERT_TRUE(v);
    ++packets[v->ssrc()];
    EXPECT_EQ(v->payloadType(), 109);
  }
  ASSERT_EQ(packets.size(), 2u);
  for (const auto& s : slots) EXPECT_EQ(packets[s.out_ssrc], 10) << s.stream_id;
}

TEST_F(RouterAudioSlotsTest, WhoIsOnTheSlotsIsReportedWhenItChanges) {
  subscribeAll();  // into slot mode: 0 and 1 go on the slots
  EXPECT_EQ(router_.takeAudioSlotChanges(), std::vector<ParticipantId>{kSub});
  EXPECT_TRUE(router_.takeAudioSlotChanges().empty());  // each change once
  talk({{0, 30}, {1, 25}});                             // the same speakers: nothing changed
  EXPECT_TRUE(router_.takeAudioSlotChanges().empty());
  // 3 speaks, 0 falls silent: 3 takes its slot (after the hold time): reported once, when it happens.
  int changes = 0;
  for (int i = 0; i < 10 && onSlots().count(publisher(3)) == 0; ++i) {
    talk({{3, 30}, {1, 25}});
    if (onSlots().count(publisher(3)) == 0) {
      EXPECT_TRUE(router_.takeAudioSlotChanges().empty()) << i;
    }
  }
  changes += static_cast<int>(router_.takeAudioSlotChanges().size());
  EXPECT_EQ(changes, 1);
  const auto slots = router_.audioSlots(kSub);
  ASSERT_EQ(slots.size(), 2u);
  std::set<std::pair<ParticipantId, std::string>> on;
  for (const auto& s : slots) {
    on.insert({s.publisher, s.track_id});
    EXPECT_EQ(s.track_stream_id, "stream-a") << s.stream_id;  // the publisher's own stream id
  }
  EXPECT_EQ(on,
            (std::set<std::pair<ParticipantId, std::string>>{{publisher(3), "t3"}, {publisher(1), "t1"}}));
  router_.removePeer(publisher(3));  // a speaker leaving frees its slot: a change too
  EXPECT_EQ(router_.takeAudioSlotChanges(), std::vector<ParticipantId>{kSub});
}

TEST_F(RouterAudioSlotsTest, ASwitchContinuesTheSlotsNumbering) {
  subscribeAll();
  sink_.clear();
  talk({{0, 30}, {1, 30}});  // 0 and 1 on the slots, speaking
  talk({{3, 20}, {4, 20}});  // now 3 and 4 speak; 0 and 1 are held for 1 s, then fade
  for (int i = 0; i < 8; ++i) talk({{3, 20}, {4, 20}});
  ASSERT_EQ(onSlots(), (std::set<ParticipantId>{publisher(3), publisher(4)}));
  std::map<std::uint32_t, std::vector<std::uint16_t>> seqs;
  for (const auto& s : sink_.rtpTo(kSub)) {
    auto v = media::RtpPacketView::parse(s.bytes);
    ASSERT_TRUE(v);
    seqs[v->ssrc()].push_back(v->sequenceNumber());
  }
  ASSERT_EQ(seqs.size(), 2u);
  for (const auto& [ssrc, v] : seqs) {
    for (std::size_t i = 1; i < v.size(); ++i) EXPECT_EQ(static_cast<std::uint16_t>(v[i - 1] + 1), v[i]) << i;
  }
}

TEST_F(RouterAudioSlotsTest, ASpeakerOnASlotIsHeldAgainstALouderOneForTheHoldTime) {
  subscribeAll();
  talk({{0, 40}, {1, 40}});
  EXPECT_EQ(onSlots(), (std::set<ParticipantId>{publisher(0), publisher(1)}));
  // 2 is louder, but 0 and 1 still speak: they keep their slots for the hold time (1 s since they went on).
  talk({{0, 40}, {1, 40}, {2, 10}});
  EXPECT_EQ(onSlots(), (std::set<ParticipantId>{publisher(0), publisher(1)}));
  for (int i = 0; i < 5; ++i) talk({{0, 40}, {1, 40}, {2, 10}});
  EXPECT_TRUE(onSlots().count(publisher(2))) << "after the hold time the louder speaker gets a slot";
}

TEST_F(RouterAudioSlotsTest, APublisherThatLeavesOrIsUnsubscribedFreesItsSlot) {
  subscribeAll();
  talk({{3, 30}, {4, 30}});
  talk({{3, 30}, {4, 30}});
  ASSERT_EQ(onSlots(), (std::set<ParticipantId>{publisher(3), publisher(4)}));
  router_.removePeer(publisher(3));
  EXPECT_EQ(onSlots(), (std::set<ParticipantId>{publisher(4)}));
  router_.unsubscribe(kSub, publisher(4), "t4");
  EXPECT_TRUE(onSlots().empty());
  EXPECT_EQ(router_.outTracks(kSub).size(), 2u);  // the slots stay
  // The next ranking fills them with what is still subscribed (silent: 0, 1 and 2 are left).
  talk({});
  const auto now_on = onSlots();
  EXPECT_EQ(now_on.size(), 2u);
  EXPECT_FALSE(now_on.count(publisher(3)));
  EXPECT_FALSE(now_on.count(publisher(4)));
  // Its track ending (the publisher stops publishing it) frees a slot the same way.
  const ParticipantId gone = *now_on.begin();
  router_.setPublishedTracks(gone, {});
  EXPECT_FALSE(onSlots().count(gone));
}

TEST_F(RouterAudioSlotsTest, TheSubscriberLeavingDropsItsSlots) {
  subscribeAll();
  talk({{3, 30}});
  router_.removePeer(kSub);
  EXPECT_TRUE(router_.audioSlots(kSub).empty());
  sink_.clear();
  talk({{3, 30}});  // nothing is forwarded to it, nothing dangles
  EXPECT_TRUE(sink_.rtpTo(kSub).empty());
}

TEST_F(RouterAudioSlotsTest, MutedTracksScoreAsSilence) {
  subscribeAll();
  auto muted = audioTrack("0", "t3");
  muted.muted = true;
  router_.setPublishedTracks(publisher(3), {muted});
  for (int i = 0; i < 3; ++i) talk({{3, 10}, {4, 30}});
  EXPECT_TRUE(onSlots().count(publisher(4)));
  EXPECT_FALSE(onSlots().count(publisher(3)));
}

}  // namespace
}  // namespace chorus::focus::test
