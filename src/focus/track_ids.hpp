#pragma once
// The stream and track ids each subscriber of the focus sees (docs/focus.md, "Stream and track ids").
//
// Publishers choose their own msid stream and track ids, and nothing makes them unique: old `chorus call`
// announced webrtcbin's transceiver names (`webrtctransceiver0`), a hostile client can copy anyone's ids.
// A subscriber that keys remote tracks by id (js-sdk, `chorus call`'s own-stream check, ...) then mixes up
// participants. So every subscriber has a view: (publisher, original id) -> the id it is told, for streams
// and tracks separately. Within a view the ids are unique, and none equals an id the subscriber publishes
// itself. An id keeps its original value when that is free (so ordinary clients see exactly what the
// publisher announced); otherwise it gets a derived one (`<id>~2`, `<id>~3`, ...). Ids that cannot be named
// in SDP (empty, over 64 characters, not visible ASCII) are not announced at all. Assignments are sticky:
// they are made once, in a fixed order (publishers by peer id, ids sorted), and only go away when the
// publisher stops announcing the id or leaves (a freed id can then be given to the next publisher that
// announces it), or move when the subscriber starts publishing that id itself.
//
// Sans-IO, single-threaded. Bounded: at most kMaxStreamsPerPeer stream ids and kMaxTracksPerPeer track ids
// per publisher (further ones are not forwarded), so a view holds at most (N - 1) x (8 + 16) entries, and in
// an ordinary call none: only ids that differ from the original are stored per subscriber.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chorus::focus {

using ParticipantId = std::uint64_t;  // same as in focus/controller.hpp

enum class IdKind : std::uint8_t { Stream, Track };
// Where a publisher's ids come from; it publishes the union of both.
enum class IdSource : std::uint8_t { Metadata, Transport };

class TrackIds {
 public:
  static constexpr std::size_t kMaxStreamsPerPeer = 8;
  static constexpr std::size_t kMaxTracksPerPeer = 16;  // the router forwards at most 16 tracks per publisher
  static constexpr std::size_t kMaxIdLength = 64;       // RFC 8830 msid-id

  // An id the focus can name at all: 1..64 visible ASCII characters (what the SDP parser accepts in a=msid),
  // not starting with kAudioSlotIdPrefix (the focus's own audio slots). Anything else (empty, longer, spaces,
  // control or non-ASCII characters) can never be forwarded and is not announced to anyone.
  static bool isUsableId(std::string_view id) noexcept;

  // Puts `peer` in `conference` (peers with the same key see each other), moving it out of its previous one.
  void setConference(ParticipantId peer, std::string_view conference);
  // What `peer` announces from `source` (unusable ids are ignored, duplicates merged, at most the cap kept:
  // the first ones in sorted order of the union of both sources). Returns true when something `peer` itself
  // sees had to move to another id (it now publishes that id itself): it must be told again.
  bool setIds(ParticipantId peer, IdSource source, IdKind kind, const std::vector<std::string>& ids);
  void removePeer(ParticipantId peer);

  // The id under which `subscriber` sees `publisher`'s `original`; nullptr when it has none (unknown,
  // unusable, over the cap, another conference, or the subscriber itself).
  const std::string* publicId(ParticipantId subscriber, IdKind kind, ParticipantId publisher,
                              std::string_view original) const;
  struct Origin {
    ParticipantId publisher{0};
    std::string original;
    bool operator==(const Origin&) const = default;
  };
  // The reverse: which publisher's id `subscriber` knows as `id`.
  std::optional<Origin> resolve(ParticipantId subscriber, IdKind kind, std::string_view id) const;

  // Ids of `peer` (sorted, capped union) for tests and diagnostics.
  std::vector<std::string> idsOf(ParticipantId peer, IdKind kind) const;
  // The ids `subscriber` sees (one per publisher and id), and that over all subscribers (O(N x ids): for
  // tests and diagnostics).
  std::size_t viewSize(ParticipantId subscriber) const;
  std::size_t totalEntries() const;
  // Assignments made so far that differ from the original id (a collision or a sanitised id).
  std::uint64_t rewritten() const noexcept { return rewritten_; }

 private:
  // What a subscriber sees differently from the original ids: only ids that collided (or that it publishes
  // itself) have an entry. Every other id it sees is the original, held by the first publisher of the
  // conference that announced it (Conference::claims) without an entry here. So a view costs nothing in an
  // ordinary call, where nothing collides, however large (a 500-participant call has 250 000 pairs).
  struct View {
    std::map<ParticipantId, std::map<std::string, std::string, std::less<>>>
        by_publisher;  // original -> public
    std::map<std::string, Origin, std::less<>> by_public;
  };
  struct Conference {
    // [kind] id -> the peers that announce it, in the order they did; none is empty.
    std::array<std::map<std::string, std::vector<ParticipantId>, std::less<>>, 2> claims;
    std::size_t members{0};
  };
  struct PeerState {
    std::optional<std::string> conference;
    Conference* conf{nullptr};  // Borrowed from conferences_ (set with `conference`).
    std::array<std::array<std::vector<std::string>, 2>, 2> given;  // [source][kind], sorted, unique, usable
    std::array<std::vector<std::string>, 2> ids;                   // [kind] sorted union, capped
    std::array<View, 2> view;                                      // [kind] what it sees differently
  };

  static bool owns(const PeerState& p, IdKind kind, std::string_view id);
  static const std::string* override(const PeerState& subscriber, IdKind kind, ParticipantId publisher,
                                     std::string_view original);
  // The publisher `subscriber` sees under `id` itself (without an entry), if any: the first one that
  // announces it and has no entry in its view. `ignore_own`: as if the subscriber did not publish `id`.
  std::optional<ParticipantId> holder(ParticipantId subscriber_id, const PeerState& subscriber, IdKind kind,
                                      std::string_view id, bool ignore_own = false) const;
  bool taken(ParticipantId subscriber_id, const PeerState& subscriber, IdKind kind,
             std::string_view id) const;
  std::string choose(ParticipantId subscriber_id, const PeerState& subscriber, IdKind kind,
                     std::string_view original) const;
  void addEntry(PeerState& subscriber, IdKind kind, ParticipantId publisher, const std::string& original,
                std::string pub);
  // `peer` (in a conference) starts / stops announcing `id`: the others' views are kept unique.
  void claim(ParticipantId peer, PeerState& p, IdKind kind, const std::string& id);
  void unclaim(ParticipantId peer, PeerState& p, IdKind kind, const std::string& id);
  void leaveConference(ParticipantId peer, PeerState& p);

  std::map<ParticipantId, PeerState> peers_;
  std::map<std::string, Conference, std::less<>> conferences_;
  std::uint64_t rewritten_{0};
};

}  // namespace chorus::focus
