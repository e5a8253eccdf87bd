// libFuzzer target: the focus's SDP reader and writers (src/io/sdp). parse -> every field and bound ->
// build the answer -> the answer must reparse (when it fits kSdpMaxSize) with one m-line per offered one, as
// an ICE-lite, passive-DTLS answer whose accepted sections use payload types from the offer. Then the
// renegotiation paths: the same offer again as a participant re-offer must be answered the same way; a focus
// re-offer with send tracks derived from the input keeps every existing section's index and mid, places each
// track in exactly one section and reparses as an actpass offer; the input applied as the answer to that
// offer never crashes and never turns on sending. The SDP code depends on the standard library only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/sdp.hpp"

using namespace chorus::io;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  SdpError error = SdpError::Count;
  const auto offer = parseSdp(text, &error);
  if (!offer) {
    if (error >= SdpError::Count) __builtin_trap();  // every rejection names its reason
    return 0;
  }
  if (size > kSdpMaxSize) __builtin_trap();
  if (offer->media.size() > kSdpMaxMediaSections || offer->bundle_mids.size() > kSdpMaxMediaSections) {
    __builtin_trap();
  }
  std::size_t sink = offer->ice_ufrag.size() + offer->ice_pwd.size() + offer->fingerprint.size();
  for (const auto& m : offer->media) {
    if (m.codecs.size() > kSdpMaxCodecsPerSection || m.formats.size() > kSdpMaxCodecsPerSection ||
        m.extmaps.size() > kSdpMaxExtmapsPerSection || m.rids.size() > kSdpMaxRidsPerSection ||
        m.ssrcs.size() > kSdpMaxSsrcsPerSection) {
      __builtin_trap();
    }
    if (m.mid.size() > kSdpMaxTokenLength || m.kind.size() > kSdpMaxTokenLength) __builtin_trap();
    for (const auto& c : m.codecs) {
      if (c.payload_type > 127 || c.name.size() > kSdpMaxTokenLength || c.rtcp_fb.size() > 16)
        __builtin_trap();
      sink += c.fmtp.size() + c.clock_rate + c.channels;
    }
    for (const auto& e : m.extmaps) {
      if (e.id == 0 || e.id > 255) __builtin_trap();
    }
    sink += offer->iceUfragOf(m).size() + offer->icePwdOf(m).size() + offer->fingerprintOf(m).size() +
            offer->fingerprintAlgorithmOf(m).size() + offer->setupOf(m).size() + m.extmapId(kExtMid) +
            m.sctp_port.value_or(0) + m.max_message_size.value_or(0);
    if (const SdpCodec* c = m.findCodec("opus")) sink += c->payload_type;
  }
  (void)sink;

  SdpAnswerParams params;
  params.ice_ufrag = "fuzz";
  params.ice_pwd = "0123456789abcdefghijkl";
  params.fingerprint = "AA:BB";
  params.candidates = {{(size & 1) ? "127.0.0.1" : "::1", 40000, false}, {"198.18.0.1", 40000, true}};
  std::string why;
  const auto answer = buildSdpAnswer(*offer, params, &why);
  if (!answer) {
    if (why.empty()) __builtin_trap();
    return 0;
  }
  if (answer->sections.size() != offer->media.size()) __builtin_trap();
  bool any = false;
  for (std::size_t i = 0; i < answer->sections.size(); ++i) {
    const auto& s = answer->sections[i];
    if (!s.accepted) continue;
    any = true;
    if (s.kind == "audio" || s.kind == "video") {
      bool offered = false;
      for (const auto& c : offer->media[i].codecs) offered |= c.payload_type == s.payload_type;
      if (!offered) __builtin_trap();
    }
  }
  if (!any) __builtin_trap();
  if (answer->sdp.size() > kSdpMaxSize) return 0;
  SdpError back_error{};
  const auto back = parseSdp(answer->sdp, &back_error);
  if (!back) __builtin_trap();
  if (!back->ice_lite || back->media.size() != offer->media.size()) __builtin_trap();
  for (std::size_t i = 0; i < back->media.size(); ++i) {
    if (answer->sections[i].accepted && back->setupOf(back->media[i]) != "passive") __builtin_trap();
  }

  // The same offer as a subsequent offer: the same sections are accepted.
  std::string re_why;
  const auto re = buildSdpAnswer(*offer, params, &*answer, &re_why);
  if (!re || re->sections.size() != answer->sections.size()) __builtin_trap();
  for (std::size_t i = 0; i < re->sections.size(); ++i) {
    if (re->sections[i].accepted != answer->sections[i].accepted) __builtin_trap();
  }

  // A focus re-offer with up to 4 tracks (kinds and ids from the input).
  SdpCodec opus;
  opus.payload_type = 111;
  opus.name = "opus";
  opus.clock_rate = 48000;
  opus.channels = 2;
  SdpCodec vp8;
  vp8.payload_type = 96;
  vp8.name = "VP8";
  vp8.clock_rate = 90000;
  vp8.rtcp_fb = {"nack", "nack pli"};
  std::vector<SendTrack> tracks;
  for (std::size_t i = 0; i < size % 5; ++i) {
    const bool audio = (data[i] & 1) != 0;
    tracks.push_back(
        {audio ? "audio" : "video", static_cast<std::uint32_t>(1000 + i), "s", "t" + std::to_string(i)});
  }
  std::string offer_why;
  const auto ours = buildSdpOffer(*answer, tracks, opus, vp8, params, &offer_why);
  if (!ours) {
    if (offer_why.empty()) __builtin_trap();
    return 0;
  }
  if (ours->sections.size() < answer->sections.size()) __builtin_trap();
  for (std::size_t i = 0; i < ours->sections.size(); ++i) {
    const auto& s = ours->sections[i];
    if (i < answer->sections.size() && answer->sections[i].accepted && s.accepted &&
        s.mid != answer->sections[i].mid) {
      __builtin_trap();
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (s.accepted && ours->sections[j].accepted && ours->sections[j].mid == s.mid) __builtin_trap();
    }
  }
  for (const auto& t : tracks) {
    std::size_t n = 0;
    for (const auto& s : ours->sections) n += s.accepted && s.send && s.send_track.ssrc == t.ssrc;
    if (n != 1) __builtin_trap();
  }
  if (ours->sdp.size() <= kSdpMaxSize) {
    const auto ours_back = parseSdp(ours->sdp);
    if (!ours_back || ours_back->media.size() != ours->sections.size()) __builtin_trap();
    for (std::size_t i = 0; i < ours->sections.size(); ++i) {
      if (ours->sections[i].accepted && ours_back->setupOf(ours_back->media[i]) != "actpass")
        __builtin_trap();
    }
  }
  SdpNegotiation pending = *ours;
  std::string apply_why;
  if (applySdpAnswer(pending, *offer, &apply_why)) {
    for (std::size_t i = 0; i < pending.sections.size(); ++i) {
      if (pending.sections[i].send && !ours->sections[i].send) __builtin_trap();
      if (pending.sections[i].recv && !ours->sections[i].recv) __builtin_trap();
    }
  } else if (apply_why.empty()) {
    __builtin_trap();
  }
  return 0;
}
