#include "io/ice_lite_agent.hpp"

#include <openssl/rand.h>

#include <cstdio>

#include "base/assert.hpp"

namespace chorus::io {

const char* toString(IceDrop d) noexcept {
  switch (d) {
    case IceDrop::NotBindingRequest:
      return "not_binding_request";
    case IceDrop::NoUsername:
      return "no_username";
    case IceDrop::WrongUfrag:
      return "wrong_ufrag";
    case IceDrop::NoIntegrity:
      return "no_integrity";
    case IceDrop::BadIntegrity:
      return "bad_integrity";
    case IceDrop::NoRoom:
      return "no_room";
    case IceDrop::Count:
      break;
  }
  return "unknown";
}

std::string toString(const TransportAddress& a) {
  char buf[64];
  const char* prefix = a.tcp ? "tcp:" : "";
  if (a.family == TransportAddress::Family::V4) {
    std::snprintf(buf, sizeof buf, "%s%u.%u.%u.%u:%u", prefix, a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3],
                  a.port);
    return buf;
  }
  std::string s = std::string(prefix) + "[";
  for (int i = 0; i < 16; i += 2) {
    std::snprintf(buf, sizeof buf, "%s%x", i ? ":" : "", (a.bytes[i] << 8) | a.bytes[i + 1]);
    s += buf;
  }
  return s + "]:" + std::to_string(a.port);
}

IceLiteAgent::IceLiteAgent(std::string local_ufrag, std::string local_pwd, TimeMs now)
    : local_ufrag_(std::move(local_ufrag)), local_pwd_(std::move(local_pwd)), last_consent_ms_(now) {
  CHORUS_CHECK(local_ufrag_.size() >= 4 && local_pwd_.size() >= 22, "ICE credentials too short");
}

std::string IceLiteAgent::randomIceString(std::size_t length) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out(length, 'A');
  std::array<unsigned char, 64> raw{};
  for (std::size_t done = 0; done < length;) {
    CHORUS_CHECK(RAND_bytes(raw.data(), static_cast<int>(raw.size())) == 1, "RAND_bytes failed");
    for (std::size_t i = 0; i < raw.size() && done < length; ++i) out[done++] = kAlphabet[raw[i] & 63];
  }
  return out;
}

IceLiteAgent::Outcome IceLiteAgent::handleStun(const media::StunMessage& m, const TransportAddress& from,
                                               TimeMs now, media::MutableByteSpan response) noexcept {
  Outcome out;
  if (!m.isBindingRequest()) {
    drops_.count(IceDrop::NotBindingRequest);
    return out;
  }
  if (!m.username) {
    drops_.count(IceDrop::NoUsername);
    return out;
  }
  const auto remote = media::matchIceUsername(m, local_ufrag_);
  if (!remote || (!remote_ufrag_.empty() && *remote != remote_ufrag_)) {
    drops_.count(IceDrop::WrongUfrag);
    return out;
  }
  if (!m.hasIntegrity()) {
    drops_.count(IceDrop::NoIntegrity);
    return out;
  }
  if (!media::verifyStunIntegrity(m, local_pwd_)) {
    drops_.count(IceDrop::BadIntegrity);
    return out;
  }
  const auto size = media::buildStunBindingSuccess(
      response, std::span<const std::uint8_t, media::kStunTransactionIdSize>(m.transaction_id), from,
      local_pwd_);
  if (!size) {
    drops_.count(IceDrop::NoRoom);
    return out;
  }
  out.response_size = *size;
  out.validated = true;
  out.nominated = m.use_candidate;
  ++answered_;
  remember(from, now);
  latest_ = from;
  if (m.use_candidate) selected_ = from;
  // Consent (RFC 7675) counts on the selected pair; before nomination any valid request keeps the peer alive.
  if (!selected_ || *selected_ == from) last_consent_ms_ = now;
  return out;
}

void IceLiteAgent::remember(const TransportAddress& a, TimeMs now) noexcept {
  for (std::size_t i = 0; i < count_; ++i) {
    if (remotes_[i].address == a) {
      remotes_[i].last_seen = now;
      return;
    }
  }
  if (count_ < remotes_.size()) {
    remotes_[count_++] = Remote{a, now};
    return;
  }
  // Full: replace the least recently seen address that is not the selected one.
  std::size_t victim = remotes_.size();
  for (std::size_t i = 0; i < count_; ++i) {
    if (selected_ && remotes_[i].address == *selected_) continue;
    if (victim == remotes_.size() || remotes_[i].last_seen < remotes_[victim].last_seen) victim = i;
  }
  if (victim < remotes_.size()) remotes_[victim] = Remote{a, now};
}

bool IceLiteAgent::isValidated(const TransportAddress& a) const noexcept {
  for (std::size_t i = 0; i < count_; ++i) {
    if (remotes_[i].address == a) return true;
  }
  return false;
}

std::optional<TransportAddress> IceLiteAgent::sendAddress() const noexcept {
  if (selected_) return selected_;
  return latest_;
}

}  // namespace chorus::io
