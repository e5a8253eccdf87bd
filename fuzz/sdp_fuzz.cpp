// libFuzzer target: the focus's SDP reader and answer writer (src/io/sdp). parse -> every field and bound ->
// build the answer -> the answer must reparse (when it fits kSdpMaxSize) with one m-line per offered one, as
// an ICE-lite, passive-DTLS answer whose accepted sections use payload types from the offer. src/io is not
// part of the fuzz build (CHORUS_FUZZ builds only the parser layers), and the SDP code depends on the
// standard library only, so the implementation is compiled into this target directly.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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
  params.candidate_ip = (size & 1) ? "127.0.0.1" : "::1";
  params.candidate_port = 40000;
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
  return 0;
}
