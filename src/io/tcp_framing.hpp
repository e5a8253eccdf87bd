#pragma once
// RFC 4571 framing for ICE-TCP (RFC 6544 §3): each STUN / DTLS / RTP / RTCP packet on a TCP connection is
// preceded by its length as a 16-bit big-endian number. TcpFrameReader reassembles such a byte stream into
// packets in one fixed buffer per connection: the socket reads straight into writable(), next() hands out
// each complete frame as a view into that buffer (so SRTP can unprotect it in place), and the bytes of a
// frame that is not complete yet are moved to the front. Nothing is allocated after construction. A frame
// longer than the reader's limit is an error: the stream cannot be resynchronised, so the caller closes the
// connection.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "media/bytes.hpp"

namespace chorus::io {

// The largest frame a reader accepts by default: far above what WebRTC sends over TCP (Chromium and libnice
// packetise media and DTLS at ~1200 bytes; SCTP rides in DTLS records of at most the path MTU), far below the
// 65535 the length field allows.
inline constexpr std::size_t kTcpDefaultMaxFrame = 8192;
inline constexpr std::size_t kTcpFrameHeader = 2;

class TcpFrameReader {
 public:
  // `max_frame`: 1..65535 (clamped).
  explicit TcpFrameReader(std::size_t max_frame = kTcpDefaultMaxFrame);

  // Free space to read into (never empty unless failed()): complete frames must have been taken with next()
  // first. Moves a partial frame to the front of the buffer when that makes room.
  media::MutableByteSpan writable();
  // `n` bytes were written at the start of writable().
  void commit(std::size_t n) noexcept;
  // The next complete frame (a view into the buffer, valid until the next writable()/feed()), or nullopt when
  // more bytes are needed or the reader failed. Zero-length frames are skipped.
  std::optional<media::MutableByteSpan> next() noexcept;

  // Copies `data` in (as a socket read would) and calls `on_frame(MutableByteSpan)` for each complete frame.
  // Returns false, and stops, when a frame is over the limit. For tests and the fuzzer; the server reads in
  // place.
  template <class F>
  bool feed(media::ByteSpan data, F&& on_frame) {
    while (!failed_) {
      while (auto frame = next()) on_frame(*frame);
      if (failed_ || data.empty()) break;
      auto room = writable();
      const std::size_t n = room.size() < data.size() ? room.size() : data.size();
      for (std::size_t i = 0; i < n; ++i) room[i] = data[i];
      commit(n);
      data = data.subspan(n);
    }
    return !failed_;
  }

  bool failed() const noexcept { return failed_; }
  std::size_t maxFrame() const noexcept { return max_frame_; }
  std::size_t buffered() const noexcept { return end_ - begin_; }  // bytes of frames not handed out yet
  std::uint64_t framesRead() const noexcept { return frames_; }

 private:
  std::vector<std::uint8_t> buf_;  // max_frame + header: one whole frame always fits
  std::size_t begin_{0};           // start of the first byte not handed out
  std::size_t end_{0};             // end of the received bytes
  std::size_t max_frame_;
  std::uint64_t frames_{0};
  bool failed_{false};
};

// Writes the 2-byte RFC 4571 header for a `size`-byte packet into `out` (2 bytes). False when size > 65535.
bool writeTcpFrameHeader(std::size_t size, std::uint8_t* out) noexcept;

}  // namespace chorus::io
