#pragma once
// WebRTC data channels (RFC 8831/8832) on one SCTP association over DTLS application data, using usrsctp in
// no-threads mode (usrsctp_init_nothreads: no timer or receive threads; the owner's loop calls
// SctpAssociation::handleTimers()). usrsctp is one global stack per process: it is initialised once and its
// upcalls find their association through a registry keyed by a never-reused id, so an upcall for a destroyed
// association is dropped. usrsctp must only be used from one thread at a time (the event loop thread).
//
// Upcalls never run our logic re-entrantly: the receive callback only queues (bounded), and the queue is
// processed after usrsctp_conninput()/usrsctp_handle_timers() return. DCEP (media/sctp/dcep) opens channels:
// a DATA_CHANNEL_OPEN from the peer is ACKed and reported; openChannel() sends one. Stream ids follow the
// DTLS role (client even, server odd). Messages are strings (PPID 51/56) or binary (53/57), bounded by
// `kSctpMaxMessageSize` in both directions.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "media/bytes.hpp"
#include "media/drop_counters.hpp"
#include "media/sctp/sctp_chunks.hpp"
#include "media/srtp/srtp_session.hpp"

struct socket;

namespace chorus::io {

inline constexpr std::size_t kSctpMaxMessageSize = 256 * 1024;  // advertised as a=max-message-size
inline constexpr std::size_t kSctpMaxChannels = 64;
// The streams asked for in each direction (SCTP_INITMSG); the association gets the smaller of both sides'
// counts (RFC 4960 §5.1.1), and a data channel's stream id must be below it. Browsers give a channel the
// lowest free id of their parity (DTLS client even, server odd), so kSctpMaxChannels channels need ids below
// 2 × kSctpMaxChannels. usrsctp keeps state per stream: 1024 streams cost ~66 KiB per association (issue
// #11's audio-only bench), 128 about a tenth of that.
inline constexpr std::uint16_t kSctpStreams = 2 * kSctpMaxChannels;
inline constexpr std::size_t kSctpMaxQueuedUpcalls = 1024;
// Retransmission timeouts (ms; usrsctp's defaults for every association, set once): Chrome's SCTP (dcsctp)
// values. The initial 500 and minimum 400 bring a lost message back in ~0.4 s, not usrsctp's 1-3 s. The
// backoff stops at kSctpMaxRtoMs (usrsctp: 60 s) so that a message lost several times on a lossy, slow link
// is retried every 10 s at most, not after tens of seconds (longer than MSC3898's 30 s keepalive); the
// association's retransmission limit grows to match, so an outage does not end it sooner than before (about
// 220 s of silence; ICE consent ends a dead peer long before).
// usrsctp clamps the RTO itself to this maximum, not only its backoff (dcsctp caps only the backoff, at 3 s):
// with a round trip above it every DATA chunk times out before its SACK comes back and no RTT sample is ever
// taken (Karn). So the maximum stays above the 3-4 s round trips seen between overloaded browsers and the
// focus. The one path's failure threshold is the association's retransmission limit (usrsctp: 5), because
// usrsctp sends no new DATA on a path it marked unreachable until a heartbeat is answered, 30 s apart: with
// round trips above the maximum RTO, or repeated losses, messages were accepted and never left, and the focus
// removed participants for missing pongs (SctpAssociation.ARoundTripAboveTheMaximumRtoKeepsDelivering).
inline constexpr std::uint32_t kSctpInitialRtoMs = 500;
inline constexpr std::uint32_t kSctpMinRtoMs = 400;
inline constexpr std::uint32_t kSctpMaxRtoMs = 10000;
inline constexpr std::uint32_t kSctpAssocMaxRetransmits = 26;
inline constexpr std::uint16_t kSctpDefaultPort = 5000;

enum class SctpDrop : std::uint8_t {
  MessageTooLarge,  // incoming message over kSctpMaxMessageSize (discarded up to its end)
  QueueFull,        // more than kSctpMaxQueuedUpcalls pending upcalls
  BadDcep,          // malformed DCEP message
  UnknownChannel,   // data on a stream without an open channel
  TooManyChannels,
  UnknownPpid,
  SendFailed,  // usrsctp_sendv refused (buffer full, not connected, ...)
  Count
};
const char* toString(SctpDrop d) noexcept;

class SctpAssociation {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // One SCTP packet to send as DTLS application data.
    virtual void onSctpSend(SctpAssociation& a, media::ByteSpan packet) = 0;
    virtual void onSctpConnected(SctpAssociation& /*a*/) {}
    virtual void onSctpClosed(SctpAssociation& /*a*/) {}
    virtual void onDataChannelOpen(SctpAssociation& a, std::uint16_t stream_id, std::string_view label,
                                   std::string_view protocol) = 0;
    virtual void onDataChannelMessage(SctpAssociation& a, std::uint16_t stream_id, std::string_view data,
                                      bool binary) = 0;
    virtual void onDataChannelClosed(SctpAssociation& a, std::uint16_t stream_id) = 0;
  };

  // `dtls_role` picks the stream-id parity for channels we open. Ports: our a=sctp-port and the peer's.
  SctpAssociation(Listener& listener, media::DtlsRole dtls_role, std::uint16_t local_port = kSctpDefaultPort,
                  std::uint16_t remote_port = kSctpDefaultPort);
  ~SctpAssociation();
  SctpAssociation(const SctpAssociation&) = delete;
  SctpAssociation& operator=(const SctpAssociation&) = delete;

  // Starts the association (both ends connect: SCTP simultaneous open, as WebRTC does). Call once DTLS is up.
  bool start();
  // One SCTP packet from DTLS application data.
  void receive(media::ByteSpan packet);
  // Opens a reliable ordered channel; returns its stream id (the channel is usable after the peer's ACK, but
  // messages sent before are delivered in order after the OPEN, RFC 8832 §6).
  std::optional<std::uint16_t> openChannel(std::string_view label, std::string_view protocol = {});
  bool sendText(std::uint16_t stream_id, std::string_view text);
  bool sendBinary(std::uint16_t stream_id, media::ByteSpan data);
  // Resets the outgoing stream (RFC 8831 §6.7); the channel is reported closed when the peer resets too.
  void closeChannel(std::uint16_t stream_id);

  bool connected() const noexcept { return connected_; }
  bool channelOpen(std::uint16_t stream_id) const noexcept;
  std::size_t channelCount() const noexcept { return channels_.size(); }
  const media::DropCounters<SctpDrop>& drops() const noexcept { return drops_; }
  std::uint64_t messagesReceived() const noexcept { return messages_received_; }
  std::uint64_t messagesSent() const noexcept { return messages_sent_; }
  // usrsctp's view of the association (SCTP_STATUS), for diagnostics: nullopt before start() or if refused.
  struct Status {
    std::int32_t state{0};       // SCTP_ESTABLISHED, ...
    std::uint32_t peer_rwnd{0};  // what the peer can still take (bytes)
    std::uint16_t unacked{0};    // DATA chunks sent and not yet acknowledged
    std::uint16_t pending{0};    // DATA chunks waiting to be sent
    std::uint32_t cwnd{0};       // primary path (bytes)
    std::uint32_t srtt_ms{0};
    std::uint32_t rto_ms{0};
    // The path (there is one): SCTP_ACTIVE, or SCTP_INACTIVE once usrsctp gave up on it (no new DATA goes
    // out until a heartbeat is answered), SCTP_UNCONFIRMED.
    std::int32_t path_state{0};
  };
  std::optional<Status> status() const;
  // The limits the association runs with (our defaults, read back from usrsctp; they do not change, so the
  // stats read status() only): consecutive timeouts before the path fails and before the association does,
  // and the longest retransmission timeout. nullopt before start() or if refused.
  struct Limits {
    std::uint16_t path_max_retransmits{0};
    std::uint16_t assoc_max_retransmits{0};
    std::uint32_t rto_max_ms{0};
  };
  std::optional<Limits> limits() const;
  // "active" | "inactive" | "unconfirmed" (Status::path_state), "unknown" otherwise.
  static std::string_view pathStateName(std::int32_t path_state) noexcept;
  // The chunks of every SCTP packet that came in from the peer and went out to it (media::tallySctpChunks):
  // whether a peer's DATA reached us at all, what we acknowledged and the window we advertised.
  const media::SctpChunkTally& wireIn() const noexcept { return wire_in_; }
  const media::SctpChunkTally& wireOut() const noexcept { return wire_out_; }

  // Drives usrsctp's timers for every association; call every ~10 ms from the loop thread.
  static void handleTimers(std::uint32_t elapsed_ms);
  // Number of live associations (for the registry-empty check in tests).
  static std::size_t liveCount();

 private:
  friend struct SctpUpcalls;
  struct Upcall {
    bool notification{false};
    std::uint16_t stream_id{0};
    std::uint32_t ppid{0};
    bool end_of_record{true};
    std::vector<std::uint8_t> data;
  };
  struct Channel {
    std::string label;
    bool open{false};     // ACKed (ours) or accepted (theirs)
    bool closing{false};  // we reset our outgoing stream
  };

  void enqueue(Upcall&& u);
  void processQueue();
  void handleNotification(media::ByteSpan n);
  void handleMessage(std::uint16_t sid, std::uint32_t ppid, media::ByteSpan data);
  void handleDcep(std::uint16_t sid, media::ByteSpan data);
  bool sendRaw(std::uint16_t sid, std::uint32_t ppid, media::ByteSpan data);
  void resetStream(std::uint16_t sid);
  void output(media::ByteSpan packet);

  Listener& listener_;  // Borrowed.
  std::uint16_t local_port_;
  std::uint16_t remote_port_;
  std::uintptr_t id_;             // registry key; also the AF_CONN address (both ends: usrsctp gotcha 1)
  struct socket* sock_{nullptr};  // Owned.
  bool started_{false};
  bool connected_{false};
  bool processing_{false};
  std::deque<Upcall> queue_;
  std::vector<std::uint8_t> partial_;  // reassembly of a message delivered in parts (bounded)
  bool partial_discard_{false};
  std::map<std::uint16_t, Channel> channels_;  // bounded by kSctpMaxChannels
  std::uint16_t next_stream_id_;
  media::DropCounters<SctpDrop> drops_;
  std::uint64_t messages_received_{0};
  std::uint64_t messages_sent_{0};
  media::SctpChunkTally wire_in_;
  media::SctpChunkTally wire_out_;
};
using SctpAssociationPtr = std::unique_ptr<SctpAssociation>;

}  // namespace chorus::io
