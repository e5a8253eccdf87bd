#include "crypto/olm.hpp"

#include <olm/olm.h>
#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

namespace chorus::crypto {

// One libolm object (account, session or utility) in memory we own; wiped and freed on destruction.
struct OlmState {
  enum class Kind : std::uint8_t { Account, Session, Utility };
  Kind kind;
  void* memory{nullptr};
  ::OlmAccount* account{nullptr};
  ::OlmSession* session{nullptr};
  ::OlmUtility* utility{nullptr};

  explicit OlmState(Kind k) : kind(k) {
    switch (kind) {
      case Kind::Account:
        memory = ::operator new(olm_account_size());
        account = olm_account(memory);
        break;
      case Kind::Session:
        memory = ::operator new(olm_session_size());
        session = olm_session(memory);
        break;
      case Kind::Utility:
        memory = ::operator new(olm_utility_size());
        utility = olm_utility(memory);
        break;
    }
  }
  OlmState(const OlmState&) = delete;
  OlmState& operator=(const OlmState&) = delete;
  ~OlmState() {
    if (account != nullptr) olm_clear_account(account);
    if (session != nullptr) olm_clear_session(session);
    if (utility != nullptr) olm_clear_utility(utility);
    ::operator delete(memory);
  }
};

namespace {

// A byte buffer that is wiped when it goes away (random seeds, plaintexts, pickle keys).
class SecureBuffer {
 public:
  explicit SecureBuffer(std::size_t size) : bytes_(size) {}
  explicit SecureBuffer(std::string_view from) : bytes_(from.begin(), from.end()) {}
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  ~SecureBuffer() {
    if (!bytes_.empty()) explicit_bzero(bytes_.data(), bytes_.size());
  }
  std::uint8_t* data() { return bytes_.empty() ? nullptr : bytes_.data(); }
  std::size_t size() const { return bytes_.size(); }
  std::string str(std::size_t length) const {
    return std::string(reinterpret_cast<const char*>(bytes_.data()), length);
  }

 private:
  std::vector<std::uint8_t> bytes_;
};

Result<void> fillRandom(SecureBuffer& buffer) {
  std::size_t done = 0;
  while (done < buffer.size()) {
    ssize_t n = getrandom(buffer.data() + done, buffer.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Code::Unavailable, std::string("getrandom: ") + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  return ok();
}

bool isError(std::size_t r) {
  return r == olm_error();
}

Unexpected accountError(const OlmState& s, std::string_view what) {
  return fail(Code::InvalidArgument, std::string(what) + ": " + olm_account_last_error(s.account));
}
Unexpected sessionError(const OlmState& s, std::string_view what) {
  return fail(Code::InvalidArgument, std::string(what) + ": " + olm_session_last_error(s.session));
}

// libolm's JSON outputs are flat lists of quoted base64 / ascii tokens without escapes; collect them in
// order.
Result<std::vector<std::string>> quotedTokens(std::string_view json) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while ((i = json.find('"', i)) != std::string_view::npos) {
    std::size_t end = json.find('"', i + 1);
    if (end == std::string_view::npos) return fail(Code::Internal, "libolm returned unbalanced JSON");
    std::string_view token = json.substr(i + 1, end - i - 1);
    if (token.find('\\') != std::string_view::npos)
      return fail(Code::Internal, "libolm returned escaped JSON");
    out.emplace_back(token);
    i = end + 1;
  }
  return out;
}

// {"curve25519":{"id":"key",...}} -> {id: key}.
Result<KeyMap> parseKeyMap(std::string_view json) {
  auto tokens = quotedTokens(json);
  if (!tokens) return fail(tokens.error());
  if (tokens->empty() || (*tokens)[0] != "curve25519" || tokens->size() % 2 != 1) {
    return fail(Code::Internal, "unexpected one-time key JSON from libolm");
  }
  KeyMap keys;
  for (std::size_t i = 1; i + 1 < tokens->size(); i += 2) keys.emplace((*tokens)[i], (*tokens)[i + 1]);
  return keys;
}

bool validBody(std::string_view body) {
  return !body.empty() && body.size() <= kMaxCiphertextBytes;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------------
// OlmAccount

OlmAccount::OlmAccount(std::unique_ptr<OlmState> state) : state_(std::move(state)) {}
OlmAccount::OlmAccount(OlmAccount&&) noexcept = default;
OlmAccount& OlmAccount::operator=(OlmAccount&&) noexcept = default;
OlmAccount::~OlmAccount() = default;

Result<OlmAccount> OlmAccount::create() {
  auto state = std::make_unique<OlmState>(OlmState::Kind::Account);
  SecureBuffer random(olm_create_account_random_length(state->account));
  if (auto r = fillRandom(random); !r) return fail(r.error());
  if (isError(olm_create_account(state->account, random.data(), random.size()))) {
    return accountError(*state, "olm_create_account");
  }
  return OlmAccount(std::move(state));
}

Result<OlmAccount> OlmAccount::unpickle(std::string_view key, std::string_view pickled) {
  if (pickled.empty() || pickled.size() > kMaxPickleBytes)
    return fail(Code::InvalidArgument, "bad account pickle size");
  auto state = std::make_unique<OlmState>(OlmState::Kind::Account);
  SecureBuffer buffer(pickled);  // libolm decodes in place
  if (isError(olm_unpickle_account(state->account, key.data(), key.size(), buffer.data(), buffer.size()))) {
    return accountError(*state, "olm_unpickle_account");
  }
  return OlmAccount(std::move(state));
}

Result<IdentityKeys> OlmAccount::identityKeys() const {
  std::string json(olm_account_identity_keys_length(state_->account), '\0');
  std::size_t n = olm_account_identity_keys(state_->account, json.data(), json.size());
  if (isError(n)) return accountError(*state_, "olm_account_identity_keys");
  json.resize(n);
  auto tokens = quotedTokens(json);
  if (!tokens) return fail(tokens.error());
  IdentityKeys keys;
  for (std::size_t i = 0; i + 1 < tokens->size(); i += 2) {
    if ((*tokens)[i] == "curve25519") keys.curve25519 = (*tokens)[i + 1];
    if ((*tokens)[i] == "ed25519") keys.ed25519 = (*tokens)[i + 1];
  }
  if (keys.curve25519.empty() || keys.ed25519.empty())
    return fail(Code::Internal, "unexpected identity key JSON");
  return keys;
}

Result<std::string> OlmAccount::sign(std::string_view message) const {
  std::string signature(olm_account_signature_length(state_->account), '\0');
  std::size_t n =
      olm_account_sign(state_->account, message.data(), message.size(), signature.data(), signature.size());
  if (isError(n)) return accountError(*state_, "olm_account_sign");
  signature.resize(n);
  return signature;
}

std::size_t OlmAccount::maxOneTimeKeys() const {
  return olm_account_max_number_of_one_time_keys(state_->account);
}

Status OlmAccount::generateOneTimeKeys(std::size_t count) {
  if (count > maxOneTimeKeys())
    return fail(Code::InvalidArgument, "more one-time keys than the account holds");
  SecureBuffer random(olm_account_generate_one_time_keys_random_length(state_->account, count));
  if (auto r = fillRandom(random); !r) return r;
  if (isError(olm_account_generate_one_time_keys(state_->account, count, random.data(), random.size()))) {
    return accountError(*state_, "olm_account_generate_one_time_keys");
  }
  return ok();
}

Status OlmAccount::generateFallbackKey() {
  SecureBuffer random(olm_account_generate_fallback_key_random_length(state_->account));
  if (auto r = fillRandom(random); !r) return r;
  if (isError(olm_account_generate_fallback_key(state_->account, random.data(), random.size()))) {
    return accountError(*state_, "olm_account_generate_fallback_key");
  }
  return ok();
}

Result<KeyMap> OlmAccount::unpublishedOneTimeKeys() const {
  std::string json(olm_account_one_time_keys_length(state_->account), '\0');
  std::size_t n = olm_account_one_time_keys(state_->account, json.data(), json.size());
  if (isError(n)) return accountError(*state_, "olm_account_one_time_keys");
  json.resize(n);
  return parseKeyMap(json);
}

Result<KeyMap> OlmAccount::unpublishedFallbackKey() const {
  std::string json(olm_account_unpublished_fallback_key_length(state_->account), '\0');
  std::size_t n = olm_account_unpublished_fallback_key(state_->account, json.data(), json.size());
  if (isError(n)) return accountError(*state_, "olm_account_unpublished_fallback_key");
  json.resize(n);
  return parseKeyMap(json);
}

void OlmAccount::markKeysAsPublished() {
  olm_account_mark_keys_as_published(state_->account);
}

Result<std::string> OlmAccount::pickle(std::string_view key) const {
  std::string out(olm_pickle_account_length(state_->account), '\0');
  std::size_t n = olm_pickle_account(state_->account, key.data(), key.size(), out.data(), out.size());
  if (isError(n)) return accountError(*state_, "olm_pickle_account");
  out.resize(n);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// OlmSession

OlmSession::OlmSession(std::unique_ptr<OlmState> state) : state_(std::move(state)) {}
OlmSession::OlmSession(OlmSession&&) noexcept = default;
OlmSession& OlmSession::operator=(OlmSession&&) noexcept = default;
OlmSession::~OlmSession() = default;

Result<OlmSession> OlmSession::createOutbound(OlmAccount& account, std::string_view their_curve25519,
                                              std::string_view their_one_time_key) {
  if (their_curve25519.empty() || their_one_time_key.empty() || their_curve25519.size() > 256 ||
      their_one_time_key.size() > 256) {
    return fail(Code::InvalidArgument, "bad key length");
  }
  auto state = std::make_unique<OlmState>(OlmState::Kind::Session);
  SecureBuffer random(olm_create_outbound_session_random_length(state->session));
  if (auto r = fillRandom(random); !r) return fail(r.error());
  if (isError(olm_create_outbound_session(state->session, account.state_->account, their_curve25519.data(),
                                          their_curve25519.size(), their_one_time_key.data(),
                                          their_one_time_key.size(), random.data(), random.size()))) {
    return sessionError(*state, "olm_create_outbound_session");
  }
  return OlmSession(std::move(state));
}

Result<OlmSession> OlmSession::createInbound(OlmAccount& account, std::string_view their_curve25519,
                                             std::string_view pre_key_body) {
  if (!validBody(pre_key_body)) return fail(Code::InvalidArgument, "bad pre-key message size");
  if (their_curve25519.size() > 256) return fail(Code::InvalidArgument, "bad key length");
  auto state = std::make_unique<OlmState>(OlmState::Kind::Session);
  SecureBuffer message(pre_key_body);  // libolm decodes in place
  std::size_t r =
      their_curve25519.empty()
          ? olm_create_inbound_session(state->session, account.state_->account, message.data(),
                                       message.size())
          : olm_create_inbound_session_from(state->session, account.state_->account, their_curve25519.data(),
                                            their_curve25519.size(), message.data(), message.size());
  if (isError(r)) return sessionError(*state, "olm_create_inbound_session");
  // Fails (BAD_MESSAGE_KEY_ID) only when the message used the fallback key, which stays until replaced.
  (void)olm_remove_one_time_keys(account.state_->account, state->session);
  return OlmSession(std::move(state));
}

Result<OlmSession> OlmSession::unpickle(std::string_view key, std::string_view pickled) {
  if (pickled.empty() || pickled.size() > kMaxPickleBytes)
    return fail(Code::InvalidArgument, "bad session pickle size");
  auto state = std::make_unique<OlmState>(OlmState::Kind::Session);
  SecureBuffer buffer(pickled);
  if (isError(olm_unpickle_session(state->session, key.data(), key.size(), buffer.data(), buffer.size()))) {
    return sessionError(*state, "olm_unpickle_session");
  }
  return OlmSession(std::move(state));
}

Result<bool> OlmSession::matchesInbound(std::string_view their_curve25519,
                                        std::string_view pre_key_body) const {
  if (!validBody(pre_key_body)) return fail(Code::InvalidArgument, "bad pre-key message size");
  if (their_curve25519.size() > 256) return fail(Code::InvalidArgument, "bad key length");
  SecureBuffer message(pre_key_body);
  std::size_t r =
      their_curve25519.empty()
          ? olm_matches_inbound_session(state_->session, message.data(), message.size())
          : olm_matches_inbound_session_from(state_->session, their_curve25519.data(),
                                             their_curve25519.size(), message.data(), message.size());
  if (isError(r)) return sessionError(*state_, "olm_matches_inbound_session");
  return r == 1;
}

Result<Ciphertext> OlmSession::encrypt(std::string_view plaintext) {
  if (plaintext.size() > kMaxPlaintextBytes) return fail(Code::InvalidArgument, "plaintext too large");
  Ciphertext out;
  out.type = olm_encrypt_message_type(state_->session) == 0 ? MessageType::PreKey : MessageType::Normal;
  SecureBuffer random(olm_encrypt_random_length(state_->session));
  if (auto r = fillRandom(random); !r) return fail(r.error());
  const std::size_t length = olm_encrypt_message_length(state_->session, plaintext.size());
  // Never produce a message that the other side (this same code) would refuse to decrypt.
  if (length > kMaxCiphertextBytes)
    return fail(Code::InvalidArgument, "plaintext too large for one Olm message");
  out.body.resize(length);
  std::size_t n = olm_encrypt(state_->session, plaintext.data(), plaintext.size(), random.data(),
                              random.size(), out.body.data(), out.body.size());
  if (isError(n)) return sessionError(*state_, "olm_encrypt");
  out.body.resize(n);
  return out;
}

Result<std::string> OlmSession::decrypt(std::uint64_t type, std::string_view body) {
  if (type > 1) return fail(Code::InvalidArgument, "unknown Olm message type");
  if (!validBody(body)) return fail(Code::InvalidArgument, "bad Olm message size");
  std::size_t max;
  {
    SecureBuffer copy(body);  // both calls decode the body in place
    max = olm_decrypt_max_plaintext_length(state_->session, type, copy.data(), copy.size());
  }
  if (isError(max)) return sessionError(*state_, "olm_decrypt_max_plaintext_length");
  if (max > kMaxCiphertextBytes) return fail(Code::InvalidArgument, "Olm plaintext too large");
  SecureBuffer message(body);
  SecureBuffer plaintext(max == 0 ? 1 : max);
  std::size_t n =
      olm_decrypt(state_->session, type, message.data(), message.size(), plaintext.data(), plaintext.size());
  if (isError(n)) return sessionError(*state_, "olm_decrypt");
  if (n > kMaxPlaintextBytes) return fail(Code::InvalidArgument, "Olm plaintext too large");
  return plaintext.str(n);
}

Result<std::string> OlmSession::sessionId() const {
  std::string id(olm_session_id_length(state_->session), '\0');
  std::size_t n = olm_session_id(state_->session, id.data(), id.size());
  if (isError(n)) return sessionError(*state_, "olm_session_id");
  id.resize(n);
  return id;
}

Result<std::string> OlmSession::pickle(std::string_view key) const {
  std::string out(olm_pickle_session_length(state_->session), '\0');
  std::size_t n = olm_pickle_session(state_->session, key.data(), key.size(), out.data(), out.size());
  if (isError(n)) return sessionError(*state_, "olm_pickle_session");
  out.resize(n);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------

Status verifyEd25519(std::string_view key, std::string_view message, std::string_view signature) {
  if (key.empty() || key.size() > 256 || signature.empty() || signature.size() > 256 ||
      message.size() > kMaxPlaintextBytes) {
    return fail(Code::InvalidArgument, "bad ed25519 input size");
  }
  OlmState state(OlmState::Kind::Utility);
  std::string sig(signature);  // libolm decodes in place
  if (isError(olm_ed25519_verify(state.utility, key.data(), key.size(), message.data(), message.size(),
                                 sig.data(), sig.size()))) {
    return fail(Code::Unauthenticated, std::string("ed25519: ") + olm_utility_last_error(state.utility));
  }
  return ok();
}

}  // namespace chorus::crypto
