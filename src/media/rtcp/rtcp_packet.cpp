#include "media/rtcp/rtcp_packet.hpp"

#include <cstring>
#include <limits>

namespace chorus::media {

namespace {

template <typename T>
std::optional<T> fail(RtcpError* error, RtcpError e) noexcept {
  if (error != nullptr) *error = e;
  return std::nullopt;
}

RtcpReportBlock readReportBlock(const std::uint8_t* p) noexcept {
  RtcpReportBlock b;
  b.ssrc = load32(p);
  b.fraction_lost = p[4];
  std::uint32_t lost = load24(p + 5);
  if ((lost & 0x800000u) != 0) lost |= 0xFF000000u;  // sign-extend 24 -> 32
  b.cumulative_lost = static_cast<std::int32_t>(lost);
  b.extended_highest_seq = load32(p + 8);
  b.jitter = load32(p + 12);
  b.last_sr = load32(p + 16);
  b.delay_since_last_sr = load32(p + 20);
  return b;
}

void writeReportBlock(std::uint8_t* p, const RtcpReportBlock& b) noexcept {
  store32(p, b.ssrc);
  p[4] = b.fraction_lost;
  std::int32_t lost = b.cumulative_lost;
  if (lost > 0x7FFFFF) lost = 0x7FFFFF;
  if (lost < -0x800000) lost = -0x800000;
  store24(p + 5, static_cast<std::uint32_t>(lost) & 0xFFFFFFu);
  store32(p + 8, b.extended_highest_seq);
  store32(p + 12, b.jitter);
  store32(p + 16, b.last_sr);
  store32(p + 20, b.delay_since_last_sr);
}

// Writes the 4-byte common header for a packet of `size` bytes (a multiple of 4).
void writeHeader(std::uint8_t* p, std::uint8_t count, std::uint8_t type, std::size_t size) noexcept {
  p[0] = static_cast<std::uint8_t>(0x80 | (count & 0x1F));
  p[1] = type;
  store16(p + 2, static_cast<std::uint16_t>(size / 4 - 1));
}

bool isFeedback(const RtcpPacketView& p, std::uint8_t type, std::uint8_t fmt) noexcept {
  return p.type == type && p.count == fmt;
}

}  // namespace

const char* toString(RtcpError e) noexcept {
  switch (e) {
    case RtcpError::TooShort:
      return "too_short";
    case RtcpError::BadVersion:
      return "bad_version";
    case RtcpError::LengthOverrun:
      return "length_overrun";
    case RtcpError::BadPadding:
      return "bad_padding";
    case RtcpError::BadBody:
      return "bad_body";
    case RtcpError::Count:
      break;
  }
  return "unknown";
}

std::optional<RtcpPacketView> RtcpCompoundReader::next() noexcept {
  if (error_ || pos_ >= data_.size()) return std::nullopt;
  const std::size_t left = data_.size() - pos_;
  const std::uint8_t* p = data_.data() + pos_;
  if (left < 4) {
    error_ = RtcpError::TooShort;
    return std::nullopt;
  }
  if ((p[0] >> 6) != 2) {
    error_ = RtcpError::BadVersion;
    return std::nullopt;
  }
  const std::size_t size = 4 * (static_cast<std::size_t>(load16(p + 2)) + 1);
  if (size > left) {
    error_ = RtcpError::LengthOverrun;
    return std::nullopt;
  }
  RtcpPacketView v;
  v.padding = (p[0] & 0x20) != 0;
  v.count = p[0] & 0x1F;
  v.type = p[1];
  v.packet = data_.subspan(pos_, size);
  std::size_t body_size = size - 4;
  if (v.padding) {
    const std::size_t pad = v.packet.back();
    if (pad == 0 || pad > body_size) {
      error_ = RtcpError::BadPadding;
      return std::nullopt;
    }
    body_size -= pad;
  }
  v.body = v.packet.subspan(4, body_size);
  pos_ += size;
  return v;
}

std::optional<std::size_t> validateRtcpCompound(ByteSpan compound, bool allow_reduced_size,
                                                RtcpError* error) noexcept {
  RtcpCompoundReader reader(compound);
  std::size_t n = 0;
  while (auto p = reader.next()) {
    if (n == 0 && !allow_reduced_size && p->type != kRtcpSr && p->type != kRtcpRr) {
      return fail<std::size_t>(error, RtcpError::BadBody);
    }
    ++n;
  }
  if (reader.error()) return fail<std::size_t>(error, *reader.error());
  if (n == 0) return fail<std::size_t>(error, RtcpError::TooShort);
  return n;
}

RtcpReportBlock RtcpSenderReport::reportBlock(std::size_t i) const noexcept {
  if (i >= reportCount()) return {};
  return readReportBlock(blocks.data() + kRtcpReportBlockSize * i);
}

std::optional<RtcpSenderReport> RtcpSenderReport::parse(const RtcpPacketView& p, RtcpError* error) noexcept {
  if (p.type != kRtcpSr) return fail<RtcpSenderReport>(error, RtcpError::BadBody);
  const std::size_t need = 24 + kRtcpReportBlockSize * p.count;
  if (p.body.size() < need) return fail<RtcpSenderReport>(error, RtcpError::BadBody);
  RtcpSenderReport r;
  const std::uint8_t* b = p.body.data();
  r.ssrc = load32(b);
  r.ntp_timestamp = load64(b + 4);
  r.rtp_timestamp = load32(b + 12);
  r.packet_count = load32(b + 16);
  r.octet_count = load32(b + 20);
  r.blocks = p.body.subspan(24, kRtcpReportBlockSize * p.count);
  return r;
}

RtcpReportBlock RtcpReceiverReport::reportBlock(std::size_t i) const noexcept {
  if (i >= reportCount()) return {};
  return readReportBlock(blocks.data() + kRtcpReportBlockSize * i);
}

std::optional<RtcpReceiverReport> RtcpReceiverReport::parse(const RtcpPacketView& p,
                                                            RtcpError* error) noexcept {
  if (p.type != kRtcpRr) return fail<RtcpReceiverReport>(error, RtcpError::BadBody);
  const std::size_t need = 4 + kRtcpReportBlockSize * p.count;
  if (p.body.size() < need) return fail<RtcpReceiverReport>(error, RtcpError::BadBody);
  RtcpReceiverReport r;
  r.ssrc = load32(p.body.data());
  r.blocks = p.body.subspan(4, kRtcpReportBlockSize * p.count);
  return r;
}

std::optional<RtcpSdesItem> RtcpSdesIterator::next() noexcept {
  while (!malformed_) {
    if (!in_chunk_) {
      if (chunks_left_ == 0) return std::nullopt;
      if (pos_ > body_.size() || body_.size() - pos_ < 4) break;
      ssrc_ = load32(body_.data() + pos_);
      pos_ += 4;
      in_chunk_ = true;
      --chunks_left_;
    }
    if (pos_ >= body_.size()) break;  // chunk without its null terminator
    const std::uint8_t type = body_[pos_];
    if (type == 0) {
      pos_ = (pos_ + 4) & ~std::size_t{3};
      if (pos_ > body_.size()) break;
      in_chunk_ = false;
      continue;
    }
    if (body_.size() - pos_ < 2) break;
    const std::size_t len = body_[pos_ + 1];
    if (body_.size() - pos_ - 2 < len) break;
    RtcpSdesItem item{ssrc_, type,
                      std::string_view(reinterpret_cast<const char*>(body_.data() + pos_ + 2), len)};
    pos_ += 2 + len;
    return item;
  }
  malformed_ = true;
  return std::nullopt;
}

std::optional<RtcpBye> RtcpBye::parse(const RtcpPacketView& p, RtcpError* error) noexcept {
  if (p.type != kRtcpBye) return fail<RtcpBye>(error, RtcpError::BadBody);
  const std::size_t n = 4 * static_cast<std::size_t>(p.count);
  if (p.body.size() < n) return fail<RtcpBye>(error, RtcpError::BadBody);
  RtcpBye bye;
  bye.ssrcs = p.body.first(n);
  if (p.body.size() > n) {
    const std::size_t len = p.body[n];
    if (p.body.size() - n - 1 < len) return fail<RtcpBye>(error, RtcpError::BadBody);
    bye.reason = std::string_view(reinterpret_cast<const char*>(p.body.data() + n + 1), len);
  }
  return bye;
}

std::optional<RtcpFeedback> RtcpFeedback::parse(const RtcpPacketView& p, RtcpError* error) noexcept {
  if ((p.type != kRtcpRtpfb && p.type != kRtcpPsfb) || p.body.size() < 8) {
    return fail<RtcpFeedback>(error, RtcpError::BadBody);
  }
  RtcpFeedback f;
  f.fmt = p.count;
  f.sender_ssrc = load32(p.body.data());
  f.media_ssrc = load32(p.body.data() + 4);
  f.fci = p.body.subspan(8);
  return f;
}

std::size_t RtcpNack::lostSequenceNumbers(std::span<std::uint16_t> out) const noexcept {
  std::size_t n = 0;
  auto emit = [&](std::uint16_t seq) {
    if (n < out.size()) out[n] = seq;
    ++n;
  };
  for (std::size_t i = 0; i < itemCount(); ++i) {
    const std::uint16_t base = pid(i);
    const std::uint16_t mask = blp(i);
    emit(base);
    for (unsigned bit = 0; bit < 16; ++bit) {
      if ((mask >> bit) & 1u) emit(static_cast<std::uint16_t>(base + bit + 1));
    }
  }
  return n;
}

std::optional<RtcpNack> RtcpNack::parse(const RtcpPacketView& p, RtcpError* error) noexcept {
  if (!isFeedback(p, kRtcpRtpfb, kRtpfbNack)) return fail<RtcpNack>(error, RtcpError::BadBody);
  auto f = RtcpFeedback::parse(p, error);
  if (!f) return std::nullopt;
  if (f->fci.empty() || f->fci.size() % 4 != 0) return fail<RtcpNack>(error, RtcpError::BadBody);
  return RtcpNack{f->sender_ssrc, f->media_ssrc, f->fci};
}

std::optional<RtcpTransportCc> RtcpTransportCc::parse(const RtcpPacketView& p, RtcpError* error) noexcept {
  if (!isFeedback(p, kRtcpRtpfb, kRtpfbTransportCc)) return fail<RtcpTransportCc>(error, RtcpError::BadBody);
  auto f = RtcpFeedback::parse(p, error);
  if (!f) return std::nullopt;
  if (f->fci.size() < 8) return fail<RtcpTransportCc>(error, RtcpError::BadBody);
  RtcpTransportCc t;
  t.sender_ssrc = f->sender_ssrc;
  t.media_ssrc = f->media_ssrc;
  t.base_seq = load16(f->fci.data());
  t.status_count = load16(f->fci.data() + 2);
  std::uint32_t ref = load24(f->fci.data() + 4);
  if ((ref & 0x800000u) != 0) ref |= 0xFF000000u;
  t.reference_time = static_cast<std::int32_t>(ref);
  t.feedback_count = f->fci[7];
  t.chunks = f->fci.subspan(8);
  return t;
}

std::optional<RtcpPli> RtcpPli::parse(const RtcpPacketView& p, RtcpError* error) noexcept {
  if (!isFeedback(p, kRtcpPsfb, kPsfbPli)) return fail<RtcpPli>(error, RtcpError::BadBody);
  auto f = RtcpFeedback::parse(p, error);
  if (!f) return std::nullopt;
  return RtcpPli{f->sender_ssrc, f->media_ssrc};
}

std::optional<RtcpFir> RtcpFir::parse(const RtcpPacketView& p, RtcpError* error) noexcept {
  if (!isFeedback(p, kRtcpPsfb, kPsfbFir)) return fail<RtcpFir>(error, RtcpError::BadBody);
  auto f = RtcpFeedback::parse(p, error);
  if (!f) return std::nullopt;
  if (f->fci.empty() || f->fci.size() % 8 != 0) return fail<RtcpFir>(error, RtcpError::BadBody);
  return RtcpFir{f->sender_ssrc, f->fci};
}

std::optional<RtcpRemb> RtcpRemb::parse(const RtcpPacketView& p, RtcpError* error) noexcept {
  if (!isFeedback(p, kRtcpPsfb, kPsfbAfb)) return fail<RtcpRemb>(error, RtcpError::BadBody);
  auto f = RtcpFeedback::parse(p, error);
  if (!f) return std::nullopt;
  const ByteSpan fci = f->fci;
  if (fci.size() < 8 || std::memcmp(fci.data(), "REMB", 4) != 0) {
    return fail<RtcpRemb>(error, RtcpError::BadBody);
  }
  const std::size_t n = fci[4];
  if (fci.size() - 8 < 4 * n) return fail<RtcpRemb>(error, RtcpError::BadBody);
  const unsigned exp = fci[5] >> 2;
  const std::uint64_t mantissa = load24(fci.data() + 5) & 0x3FFFFu;
  RtcpRemb r;
  r.sender_ssrc = f->sender_ssrc;
  if (mantissa != 0 && exp > 0 && (mantissa >> (64 - exp)) != 0) {
    r.bitrate_bps = std::numeric_limits<std::uint64_t>::max();
  } else {
    r.bitrate_bps = mantissa << exp;
  }
  r.ssrcs = fci.subspan(8, 4 * n);
  return r;
}

std::optional<std::size_t> buildRtcpReceiverReport(MutableByteSpan out, std::uint32_t sender_ssrc,
                                                   std::span<const RtcpReportBlock> blocks) noexcept {
  if (blocks.size() > 31) return std::nullopt;
  const std::size_t size = 8 + kRtcpReportBlockSize * blocks.size();
  if (out.size() < size) return std::nullopt;
  writeHeader(out.data(), static_cast<std::uint8_t>(blocks.size()), kRtcpRr, size);
  store32(out.data() + 4, sender_ssrc);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    writeReportBlock(out.data() + 8 + kRtcpReportBlockSize * i, blocks[i]);
  }
  return size;
}

std::optional<std::size_t> buildRtcpNack(MutableByteSpan out, std::uint32_t sender_ssrc,
                                         std::uint32_t media_ssrc,
                                         std::span<const std::uint16_t> lost) noexcept {
  if (lost.empty()) return std::nullopt;
  // Pass 1 counts items, pass 2 writes them; both use the same packing rule.
  auto pack = [&](std::uint8_t* items) {
    std::size_t n = 0;
    std::uint16_t pid = 0;
    std::uint16_t blp = 0;
    for (std::uint16_t seq : lost) {
      const std::uint16_t d = static_cast<std::uint16_t>(seq - pid);
      if (n > 0 && d == 0) continue;
      if (n > 0 && d >= 1 && d <= 16) {
        blp = static_cast<std::uint16_t>(blp | (1u << (d - 1)));
      } else {
        if (n > 0 && items != nullptr) store16(items + 4 * (n - 1) + 2, blp);
        pid = seq;
        blp = 0;
        if (items != nullptr) store16(items + 4 * n, pid);
        ++n;
      }
    }
    if (n > 0 && items != nullptr) store16(items + 4 * (n - 1) + 2, blp);
    return n;
  };
  const std::size_t items = pack(nullptr);
  const std::size_t size = 12 + 4 * items;
  if (size > 4 * (0xFFFFu + 1) || out.size() < size) return std::nullopt;
  writeHeader(out.data(), kRtpfbNack, kRtcpRtpfb, size);
  store32(out.data() + 4, sender_ssrc);
  store32(out.data() + 8, media_ssrc);
  pack(out.data() + 12);
  return size;
}

std::optional<std::size_t> buildRtcpSenderReport(MutableByteSpan out, std::uint32_t ssrc,
                                                 std::uint64_t ntp_timestamp, std::uint32_t rtp_timestamp,
                                                 std::uint32_t packet_count,
                                                 std::uint32_t octet_count) noexcept {
  if (out.size() < 28) return std::nullopt;
  writeHeader(out.data(), 0, kRtcpSr, 28);
  store32(out.data() + 4, ssrc);
  store32(out.data() + 8, static_cast<std::uint32_t>(ntp_timestamp >> 32));
  store32(out.data() + 12, static_cast<std::uint32_t>(ntp_timestamp));
  store32(out.data() + 16, rtp_timestamp);
  store32(out.data() + 20, packet_count);
  store32(out.data() + 24, octet_count);
  return 28;
}

std::optional<std::size_t> buildRtcpBye(MutableByteSpan out, std::span<const std::uint32_t> ssrcs) noexcept {
  if (ssrcs.empty() || ssrcs.size() > 31) return std::nullopt;
  const std::size_t size = 4 + 4 * ssrcs.size();
  if (out.size() < size) return std::nullopt;
  writeHeader(out.data(), static_cast<std::uint8_t>(ssrcs.size()), kRtcpBye, size);
  for (std::size_t i = 0; i < ssrcs.size(); ++i) store32(out.data() + 4 + 4 * i, ssrcs[i]);
  return size;
}

std::optional<std::size_t> buildRtcpPli(MutableByteSpan out, std::uint32_t sender_ssrc,
                                        std::uint32_t media_ssrc) noexcept {
  if (out.size() < 12) return std::nullopt;
  writeHeader(out.data(), kPsfbPli, kRtcpPsfb, 12);
  store32(out.data() + 4, sender_ssrc);
  store32(out.data() + 8, media_ssrc);
  return 12;
}

std::optional<std::size_t> buildRtcpFir(MutableByteSpan out, std::uint32_t sender_ssrc,
                                        std::span<const RtcpFirEntry> entries) noexcept {
  if (entries.empty()) return std::nullopt;
  const std::size_t size = 12 + 8 * entries.size();
  if (size > 4 * (0xFFFFu + 1) || out.size() < size) return std::nullopt;
  writeHeader(out.data(), kPsfbFir, kRtcpPsfb, size);
  store32(out.data() + 4, sender_ssrc);
  store32(out.data() + 8, 0);  // media source SSRC is 0 for FIR (RFC 5104 §4.3.1.2)
  for (std::size_t i = 0; i < entries.size(); ++i) {
    std::uint8_t* e = out.data() + 12 + 8 * i;
    store32(e, entries[i].ssrc);
    e[4] = entries[i].seq;
    e[5] = e[6] = e[7] = 0;
  }
  return size;
}

std::optional<std::size_t> buildRtcpRemb(MutableByteSpan out, std::uint32_t sender_ssrc,
                                         std::uint64_t bitrate_bps,
                                         std::span<const std::uint32_t> ssrcs) noexcept {
  if (ssrcs.size() > 255) return std::nullopt;
  const std::size_t size = 20 + 4 * ssrcs.size();
  if (out.size() < size) return std::nullopt;
  unsigned exp = 0;
  std::uint64_t mantissa = bitrate_bps;
  while (mantissa > 0x3FFFFu) {
    mantissa >>= 1;
    ++exp;
  }
  writeHeader(out.data(), kPsfbAfb, kRtcpPsfb, size);
  store32(out.data() + 4, sender_ssrc);
  store32(out.data() + 8, 0);
  std::memcpy(out.data() + 12, "REMB", 4);
  out[16] = static_cast<std::uint8_t>(ssrcs.size());
  store24(out.data() + 17, static_cast<std::uint32_t>((exp << 18) | mantissa));
  for (std::size_t i = 0; i < ssrcs.size(); ++i) store32(out.data() + 20 + 4 * i, ssrcs[i]);
  return size;
}

}  // namespace chorus::media
