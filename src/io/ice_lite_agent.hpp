#pragma once
// ICE-lite (RFC 8445 §2.5) for one peer: the focus never sends checks, it answers the peer's STUN Binding
// requests whose USERNAME is "<our ufrag>:<their ufrag>" and whose MESSAGE-INTEGRITY verifies with our
// password. Each such request validates its source address; USE-CANDIDATE nominates it (the peer is always
// the controlling agent). Valid requests on the selected address are also consent (RFC 7675): without one for
// `kConsentTimeoutMs` the peer is gone. No I/O, no clock reads (time is passed in).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.hpp"
#include "io/transport_address.hpp"
#include "media/drop_counters.hpp"
#include "media/stun/stun_message.hpp"

namespace chorus::io {

inline constexpr TimeMs kConsentTimeoutMs = 30'000;
inline constexpr std::size_t kIceMaxRemoteAddresses = 8;

enum class IceDrop : std::uint8_t {
  NotBindingRequest,
  NoUsername,
  WrongUfrag,  // local part is not ours, or remote part is not the one from the SDP
  NoIntegrity,
  BadIntegrity,
  NoRoom,  // response buffer too small (a caller bug)
  Count
};
const char* toString(IceDrop d) noexcept;

class IceLiteAgent {
 public:
  // ufrag: at least 4 characters, pwd at least 22 (RFC 8445 §5.3); both ice-chars.
  IceLiteAgent(std::string local_ufrag, std::string local_pwd, TimeMs now);
  // Random credentials (OpenSSL RAND_bytes over the ice-char alphabet).
  static std::string randomIceString(std::size_t length);

  // The peer's ufrag from its SDP (optional: when set, the USERNAME's remote part must match).
  void setRemoteUfrag(std::string ufrag) { remote_ufrag_ = std::move(ufrag); }

  struct Outcome {
    std::size_t response_size{0};  // > 0: send `response[0..size)` back to `from`
    bool validated{false};         // the request was authentic; `from` is now a valid remote address
    bool nominated{false};         // it carried USE-CANDIDATE
  };
  // Handles one parsed STUN message from `from`. Writes the Binding success response into `response` (at
  // least media::kStunMaxBindingResponse bytes). Drops are counted in drops().
  Outcome handleStun(const media::StunMessage& message, const TransportAddress& from, TimeMs now,
                     media::MutableByteSpan response) noexcept;

  const std::string& localUfrag() const noexcept { return local_ufrag_; }
  const std::string& localPwd() const noexcept { return local_pwd_; }
  // Where to send: the nominated address, else the most recently validated one.
  std::optional<TransportAddress> sendAddress() const noexcept;
  std::optional<TransportAddress> selectedAddress() const noexcept { return selected_; }
  bool isValidated(const TransportAddress& a) const noexcept;
  std::size_t validatedCount() const noexcept { return count_; }
  // True when no valid request arrived for kConsentTimeoutMs (counted from creation before the first one).
  bool timedOut(TimeMs now) const noexcept { return now - last_consent_ms_ > kConsentTimeoutMs; }
  TimeMs lastConsentMs() const noexcept { return last_consent_ms_; }
  // Authenticated SRTCP from the address we send to also counts as consent. RFC 7675 asks for Binding
  // requests, but GStreamer's libnice (webrtcbin) sends only Binding indications once connected; SRTCP keyed
  // by the DTLS handshake with the fingerprint from the signalling proves just as well that the peer still
  // wants our packets there.
  void refreshConsent(const TransportAddress& from, TimeMs now) noexcept {
    if (sendAddress() == from) last_consent_ms_ = now;
  }
  const media::DropCounters<IceDrop>& drops() const noexcept { return drops_; }
  std::uint64_t requestsAnswered() const noexcept { return answered_; }

 private:
  struct Remote {
    TransportAddress address;
    TimeMs last_seen{0};
  };
  void remember(const TransportAddress& a, TimeMs now) noexcept;

  std::string local_ufrag_;
  std::string local_pwd_;
  std::string remote_ufrag_;
  std::array<Remote, kIceMaxRemoteAddresses> remotes_{};  // bounded; the least recently seen is replaced
  std::size_t count_{0};
  std::optional<TransportAddress> selected_;
  std::optional<TransportAddress> latest_;
  TimeMs last_consent_ms_;
  std::uint64_t answered_{0};
  media::DropCounters<IceDrop> drops_;
};

}  // namespace chorus::io
