// libFuzzer target: RTP header view (media/rtp) with RFC 8285 extensions, VP8 payload descriptor, and
// in-place rewriting (which must reparse to the same layout with the new values).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "media/demux.hpp"
#include "media/rtp/rtp_packet.hpp"
#include "media/rtp/vp8_descriptor.hpp"

using namespace chorus::media;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan in(data, size);
  (void)classifyPacket(in);
  RtpError error{};
  auto p = RtpPacketView::parse(in, &error);
  if (!p) {
    if (static_cast<std::size_t>(error) >= static_cast<std::size_t>(RtpError::Count)) __builtin_trap();
    return 0;
  }
  if (p->headerSize() + p->payload().size() + p->paddingSize() != size) __builtin_trap();
  std::size_t sink = p->version() + p->marker() + p->payloadType() + p->sequenceNumber() + p->timestamp();
  for (std::size_t i = 0; i <= p->csrcCount(); ++i) sink += p->csrc(i);
  auto it = p->extensions();
  while (auto e = it.next()) {
    if (e->offset + e->data.size() > size || e->data.data() != data + e->offset) __builtin_trap();
    (void)parseSdesExtension(e->data);
    (void)parseAbsSendTime(e->data);
    (void)parseTransportCcSeq(e->data);
    if (auto level = parseAudioLevel(e->data)) {
      if (e->data.size() != 1 || level->level > 127 || level->voice != ((e->data[0] & 0x80) != 0))
        __builtin_trap();
    }
    sink += e->id;
  }
  for (int id = 1; id < 16; ++id) (void)p->findExtension(static_cast<std::uint8_t>(id));
  (void)sink;

  auto d = parseVp8Descriptor(p->payload());

  // In-place rewrite on a copy.
  std::vector<std::uint8_t> copy(data, data + size);
  auto m = MutableRtpPacketView::parse(copy);
  if (!m) __builtin_trap();
  const std::uint16_t seq = static_cast<std::uint16_t>(p->sequenceNumber() * 31 + 7);
  m->setSequenceNumber(seq);
  m->setTimestamp(~p->timestamp());
  m->setSsrc(p->ssrc() ^ 0x5A5A5A5A);
  m->setPayloadType(static_cast<std::uint8_t>(p->payloadType() + 1));
  if (auto ext = m->mutableExtension(5)) std::memset(ext->data(), 0xAB, ext->size());
  if (d) {
    auto payload = m->mutablePayload();
    if (d->picture_id) (void)writeVp8PictureId(payload, *d, static_cast<std::uint16_t>(*d->picture_id + 1));
    if (d->tl0_pic_idx) (void)writeVp8Tl0PicIdx(payload, *d, static_cast<std::uint8_t>(*d->tl0_pic_idx + 1));
    auto d2 = parseVp8Descriptor(ByteSpan(payload.data(), payload.size()));
    if (!d2 || d2->size != d->size || d2->keyframe != d->keyframe) __builtin_trap();
    if (d->picture_id && d2->picture_id != ((*d->picture_id + 1) & (d->picture_id_15bit ? 0x7FFF : 0x7F))) {
      __builtin_trap();
    }
  }
  auto q = RtpPacketView::parse(copy);
  if (!q || q->headerSize() != p->headerSize() || q->payload().size() != p->payload().size())
    __builtin_trap();
  if (q->sequenceNumber() != seq || q->timestamp() != ~p->timestamp() || q->marker() != p->marker() ||
      q->payloadType() != ((p->payloadType() + 1) & 0x7F)) {
    __builtin_trap();
  }
  return 0;
}
