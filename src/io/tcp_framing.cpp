#include "io/tcp_framing.hpp"

#include <algorithm>
#include <cstring>

namespace chorus::io {

TcpFrameReader::TcpFrameReader(std::size_t max_frame)
    : max_frame_(std::clamp<std::size_t>(max_frame, 1, 65535)) {
  buf_.resize(max_frame_ + kTcpFrameHeader);
}

media::MutableByteSpan TcpFrameReader::writable() {
  if (failed_) return {};
  if (begin_ == end_) {
    begin_ = end_ = 0;
  } else if (end_ == buf_.size() || begin_ > buf_.size() / 2) {
    // Make room: a partial frame moves to the front (it is at most max_frame + header bytes, so it fits).
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  return media::MutableByteSpan(buf_.data() + end_, buf_.size() - end_);
}

void TcpFrameReader::commit(std::size_t n) noexcept {
  end_ = std::min(end_ + n, buf_.size());
}

std::optional<media::MutableByteSpan> TcpFrameReader::next() noexcept {
  while (!failed_ && end_ - begin_ >= kTcpFrameHeader) {
    const std::size_t size = (std::size_t{buf_[begin_]} << 8) | buf_[begin_ + 1];
    if (size > max_frame_) {
      failed_ = true;
      return std::nullopt;
    }
    if (end_ - begin_ < kTcpFrameHeader + size) return std::nullopt;
    const std::size_t start = begin_ + kTcpFrameHeader;
    begin_ = start + size;
    if (size == 0) continue;
    ++frames_;
    return media::MutableByteSpan(buf_.data() + start, size);
  }
  return std::nullopt;
}

bool writeTcpFrameHeader(std::size_t size, std::uint8_t* out) noexcept {
  if (size > 65535) return false;
  out[0] = static_cast<std::uint8_t>(size >> 8);
  out[1] = static_cast<std::uint8_t>(size);
  return true;
}

}  // namespace chorus::io
