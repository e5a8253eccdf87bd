#pragma once
// Bounded store of sent RTP packets keyed by sequence number, for answering NACKs (RFC 4585). Storage is
// capacity x max_packet_size bytes plus slot metadata, allocated in the constructor; with initial_capacity it
// starts smaller and doubles (up to capacity) only when a packet younger than max_age_ms would be
// overwritten, so a low-rate stream keeps a small buffer. Otherwise store() and get() never allocate.
// Sequence numbers are unwrapped to 64 bits, so a slot reused after a wrap, a slot left over from before a
// gap, and an entry older than max_age_ms are all misses.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "base/clock.hpp"
#include "media/bytes.hpp"
#include "media/rtp/counter_unwrapper.hpp"

namespace chorus::media {

struct RetransmissionBufferConfig {
  std::size_t capacity{1024};         // rounded up to a power of two, at most 32768
  std::size_t max_packet_size{1500};  // larger packets are refused
  TimeMs max_age_ms{2000};            // mediasoup keeps video 2 s, audio 1 s
  std::size_t initial_capacity{0};    // 0: `capacity` from the start; else start here and grow (above)
};

class RetransmissionBuffer {
 public:
  enum class StoreResult : std::uint8_t {
    Stored,
    Replaced,   // same sequence number stored again (e.g. a retransmission)
    TooLarge,   // packet bigger than max_packet_size
    TooOld,     // more than `capacity` behind the newest stored packet
    Restarted,  // a jump of more than kRestartDistance: the buffer was cleared and the packet stored
  };
  // A sequence jump this large (either way) is treated as a new stream, not as reordering.
  static constexpr std::int64_t kRestartDistance = 0x2000;

  explicit RetransmissionBuffer(RetransmissionBufferConfig config = {});

  StoreResult store(std::uint16_t seq, ByteSpan packet, TimeMs now) noexcept;
  // The stored packet, valid until the next store() or clear(); nullopt when absent, overwritten or stale.
  std::optional<ByteSpan> get(std::uint16_t seq, TimeMs now) const noexcept;
  // The same for a retransmission: also nullopt when this packet was already resent less than
  // `min_interval_ms` ago (a receiver that NACKs again before the resent copy could arrive, as libwebrtc's
  // sender also ignores); records the resend.
  std::optional<ByteSpan> getForResend(std::uint16_t seq, TimeMs now, TimeMs min_interval_ms) noexcept;
  void clear() noexcept;
  // How long a packet stays retransmittable from now on (e.g. max(1 s, 3 x RTT) as libwebrtc's sender keeps).
  void setMaxAgeMs(TimeMs max_age_ms) noexcept { config_.max_age_ms = max_age_ms; }
  TimeMs maxAgeMs() const noexcept { return config_.max_age_ms; }

  std::size_t capacity() const noexcept { return capacity_; }  // now (it may still grow to maxCapacity())
  std::size_t maxCapacity() const noexcept { return max_capacity_; }
  std::size_t maxPacketSize() const noexcept { return config_.max_packet_size; }
  std::size_t size() const noexcept { return count_; }

 private:
  struct Slot {
    std::int64_t ext_seq{-1};
    std::uint32_t size{0};
    bool used{false};
    TimeMs stored_at{0};
    bool resent{false};
    TimeMs resent_at{0};
  };

  // Doubles the capacity (re-placing the stored packets); false when at the maximum or out of memory.
  bool grow() noexcept;

  RetransmissionBufferConfig config_;
  std::size_t max_capacity_{0};
  std::size_t capacity_{0};
  std::unique_ptr<std::uint8_t[]> storage_;  // Owned: capacity_ * max_packet_size bytes.
  std::unique_ptr<Slot[]> slots_;            // Owned: capacity_ slots.
  CounterUnwrapper<std::uint16_t> seq_;
  std::size_t count_{0};
};

}  // namespace chorus::media
