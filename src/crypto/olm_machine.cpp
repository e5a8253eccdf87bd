#include "crypto/olm_machine.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

namespace chorus::crypto {

namespace json = boost::json;

// ---------------------------------------------------------------- canonical JSON

namespace {

void canonical(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::object: {
      const auto& o = v.get_object();
      std::vector<std::pair<std::string_view, const json::value*>> items;
      items.reserve(o.size());
      for (const auto& kv : o) items.emplace_back(kv.key(), &kv.value());
      std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out.push_back('{');
      bool first = true;
      for (const auto& [k, val] : items) {
        if (!first) out.push_back(',');
        first = false;
        out += json::serialize(json::string_view(k.data(), k.size()));
        out.push_back(':');
        canonical(*val, out);
      }
      out.push_back('}');
      break;
    }
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        canonical(e, out);
      }
      out.push_back(']');
      break;
    }
    default:
      out += json::serialize(v);
  }
}

const json::object* objectAt(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

std::optional<std::string_view> stringAt(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string_view(v->get_string());
}

// Keys and ids from peers: bounded, printable.
bool plausibleId(std::string_view s, std::size_t max = 255) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) > 0x20; });
}
bool plausibleKey(std::string_view s) {
  return s.size() == 43 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                  c == '/';
         });
}

// Verifies signatures[user]["ed25519:device"] over the canonical JSON of `o` without signatures/unsigned.
Status verifySigned(const json::object& o, std::string_view user_id, std::string_view device_id,
                    std::string_view ed25519) {
  const auto* sigs = objectAt(o, "signatures");
  const auto* by_user = sigs ? objectAt(*sigs, user_id) : nullptr;
  const std::string key_id = "ed25519:" + std::string(device_id);
  auto sig = by_user ? stringAt(*by_user, key_id) : std::nullopt;
  if (!sig) return chorus::fail(Code::PermissionDenied, "no signature by " + key_id);
  json::object copy = o;
  copy.erase("signatures");
  copy.erase("unsigned");
  return verifyEd25519(ed25519, canonicalJson(copy), *sig);
}

std::uint64_t digestOf(std::string_view sender_key, std::string_view body) {
  std::string in;
  in.reserve(sender_key.size() + 1 + body.size());
  in.append(sender_key).push_back('\n');
  in.append(body);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  std::uint64_t d = 0;
  for (int i = 0; i < 8; ++i) d = (d << 8) | md[i];
  return d;
}

// ---------------------------------------------------------------- at-rest encryption

constexpr std::string_view kMagic = "CHORUSOLM1";
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;

Result<std::string> seal(std::string_view key, std::string_view plaintext) {
  if (key.size() != kStateKeyBytes) return chorus::fail(Code::InvalidArgument, "state key must be 32 bytes");
  unsigned char nonce[kNonceBytes];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return chorus::fail(Code::Unavailable, "RAND_bytes failed");
  std::string out(kMagic);
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  const std::size_t header = out.size();
  out.resize(header + plaintext.size() + kTagBytes);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return chorus::fail(Code::ResourceExhausted, "EVP_CIPHER_CTX_new");
  int len = 0, fin = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + header);
  const bool good =
      EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                         nonce) == 1 &&
      EVP_EncryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(kMagic.data()),
                        static_cast<int>(kMagic.size())) == 1 &&
      EVP_EncryptUpdate(ctx, dst, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(ctx, dst + len, &fin) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, dst + plaintext.size()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!good) return chorus::fail(Code::Internal, "AES-GCM encryption failed");
  return out;
}

Result<std::string> unseal(std::string_view key, std::string_view sealed) {
  if (key.size() != kStateKeyBytes) return chorus::fail(Code::InvalidArgument, "state key must be 32 bytes");
  if (sealed.size() < kMagic.size() + kNonceBytes + kTagBytes || sealed.substr(0, kMagic.size()) != kMagic ||
      sealed.size() > 64 * kMaxPickleBytes) {
    return chorus::fail(Code::DataLoss, "not a chorus Olm state file");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data() + kMagic.size());
  const std::string_view body = sealed.substr(kMagic.size() + kNonceBytes);
  const std::size_t n = body.size() - kTagBytes;
  std::string out(n, '\0');
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return chorus::fail(Code::ResourceExhausted, "EVP_CIPHER_CTX_new");
  int len = 0, fin = 0;
  std::string tag(body.substr(n));
  const bool good =
      EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, reinterpret_cast<const unsigned char*>(key.data()),
                         nonce) == 1 &&
      EVP_DecryptUpdate(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(kMagic.data()),
                        static_cast<int>(kMagic.size())) == 1 &&
      EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len,
                        reinterpret_cast<const unsigned char*>(body.data()), static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + len, &fin) == 1;
  EVP_CIPHER_CTX_free(ctx);
  if (!good) return chorus::fail(Code::PermissionDenied, "Olm state file: wrong key or corrupted");
  return out;
}

Status writeAtomically(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return chorus::fail(Code::Unavailable, "open " + tmp + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::write(fd, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      const std::string err = std::strerror(errno);
      ::close(fd);
      return chorus::fail(Code::Unavailable, "write " + tmp + ": " + err);
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return chorus::fail(Code::Unavailable, "fsync " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return chorus::fail(Code::Unavailable, "rename " + tmp + ": " + std::strerror(errno));
  }
  return ok();
}

Result<std::string> readFile(const std::string& path, std::size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return chorus::fail(Code::NotFound, "cannot read " + path);
  std::string data;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<std::size_t>(in.gcount()));
    if (data.size() > max) return chorus::fail(Code::ResourceExhausted, path + " is too large");
  }
  return data;
}

}  // namespace

std::string canonicalJson(const json::value& value) {
  std::string out;
  canonical(value, out);
  return out;
}

// ---------------------------------------------------------------- payload validation

Result<OlmPayload> validateOlmPayload(std::string_view plaintext, std::string_view envelope_sender,
                                      std::string_view our_user, std::string_view our_ed25519) {
  if (plaintext.size() > kMaxPlaintextBytes) return chorus::fail(Code::InvalidArgument, "payload too large");
  json::parse_options po;
  po.max_depth = 32;
  std::error_code ec;
  json::value v = json::parse(json::string_view(plaintext.data(), plaintext.size()), ec, {}, po);
  if (ec || !v.is_object()) return chorus::fail(Code::InvalidArgument, "payload is not a JSON object");
  auto& o = v.get_object();
  OlmPayload p;
  auto type = stringAt(o, "type");
  auto sender = stringAt(o, "sender");
  auto recipient = stringAt(o, "recipient");
  const auto* content = objectAt(o, "content");
  const auto* recipient_keys = objectAt(o, "recipient_keys");
  const auto* keys = objectAt(o, "keys");
  if (!type || type->empty() || type->size() > 255 || !content) {
    return chorus::fail(Code::InvalidArgument, "payload lacks type or content");
  }
  if (!sender || *sender != envelope_sender) {
    return chorus::fail(Code::PermissionDenied, "payload sender is not the event's sender");
  }
  if (!recipient || *recipient != our_user)
    return chorus::fail(Code::PermissionDenied, "not addressed to us");
  auto their_view_of_us = recipient_keys ? stringAt(*recipient_keys, "ed25519") : std::nullopt;
  if (!their_view_of_us || *their_view_of_us != our_ed25519) {
    return chorus::fail(Code::PermissionDenied, "recipient_keys.ed25519 is not our key");
  }
  auto their_ed = keys ? stringAt(*keys, "ed25519") : std::nullopt;
  if (!their_ed || !plausibleKey(*their_ed))
    return chorus::fail(Code::InvalidArgument, "keys.ed25519 missing");
  if (const auto* sd = o.if_contains("sender_device")) {
    if (!sd->is_string() || !plausibleId(sd->get_string())) {
      return chorus::fail(Code::InvalidArgument, "sender_device is not a device id");
    }
    p.sender_device = sd->get_string();
  }
  p.type = *type;
  p.sender = *sender;
  p.sender_ed25519 = *their_ed;
  p.content = *content;
  return p;
}

// ---------------------------------------------------------------- machine

OlmMachine::OlmMachine(std::string user_id, std::string device_id, OlmMachineConfig config,
                       OlmAccount account)
    : user_id_(std::move(user_id)),
      device_id_(std::move(device_id)),
      config_(config),
      account_(std::move(account)) {}

OlmMachine::~OlmMachine() = default;

Status OlmMachine::init() {
  auto ids = account_.identityKeys();
  if (!ids) return chorus::fail(ids.error());
  identity_ = *ids;
  return ok();
}

Result<std::unique_ptr<OlmMachine>> OlmMachine::create(std::string user_id, std::string device_id,
                                                       OlmMachineConfig config) {
  auto account = OlmAccount::create();
  if (!account) return chorus::fail(account.error());
  std::unique_ptr<OlmMachine> m(
      new OlmMachine(std::move(user_id), std::move(device_id), config, std::move(*account)));
  if (auto st = m->init(); !st) return chorus::fail(st.error());
  return m;
}

Result<std::unique_ptr<OlmMachine>> OlmMachine::open(const std::string& path, std::string_view key,
                                                     std::string user_id, std::string device_id,
                                                     OlmMachineConfig config) {
  if (key.size() != kStateKeyBytes) return chorus::fail(Code::InvalidArgument, "state key must be 32 bytes");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return chorus::fail(Code::Unavailable, "stat " + path + ": " + std::strerror(errno));
    auto m = create(std::move(user_id), std::move(device_id), config);
    if (!m) return m;
    (*m)->setStore(path, std::string(key));
    if (auto s = (*m)->save(); !s) return chorus::fail(s.error());
    return m;
  }
  auto sealed = readFile(path, 64 * kMaxPickleBytes);
  if (!sealed) return chorus::fail(sealed.error());
  auto plain = unseal(key, *sealed);
  if (!plain) return chorus::fail(plain.error());
  auto m = deserialize(*plain, key, user_id, device_id, config);
  if (!m) return m;
  (*m)->setStore(path, std::string(key));
  (*m)->dirty_ = false;
  return m;
}

void OlmMachine::setStore(std::string path, std::string key) {
  store_path_ = std::move(path);
  store_key_ = std::move(key);
  dirty_ = true;
}

std::size_t OlmMachine::oneTimeKeyTarget() const {
  return config_.one_time_key_target ? std::min(config_.one_time_key_target, account_.maxOneTimeKeys())
                                     : account_.maxOneTimeKeys() / 2;
}

Result<std::string> OlmMachine::serialize() const {
  auto account = account_.pickle(store_key_);
  if (!account) return chorus::fail(account.error());
  json::array devices;
  for (const auto& [user, by_device] : devices_) {
    for (const auto& [id, d] : by_device) {
      devices.push_back(json::object{{"user_id", d.user_id},
                                     {"device_id", d.device_id},
                                     {"curve25519", d.curve25519},
                                     {"ed25519", d.ed25519}});
    }
  }
  json::array sessions;
  for (const auto& [curve, peer] : peers_) {
    for (const auto& s : peer.sessions) {
      auto p = s.session.pickle(store_key_);
      if (!p) return chorus::fail(p.error());
      sessions.push_back(json::object{{"peer", curve}, {"pickle", *p}, {"last_used", s.last_used}});
    }
  }
  json::array replay;
  for (auto d : replay_order_) replay.push_back(d);
  json::object root{{"version", 1},
                    {"user_id", user_id_},
                    {"device_id", device_id_},
                    {"account", *account},
                    {"device_keys_uploaded", device_keys_uploaded_},
                    {"fallback_published", fallback_published_},
                    {"use_counter", use_counter_},
                    {"devices", std::move(devices)},
                    {"sessions", std::move(sessions)},
                    {"replay", std::move(replay)}};
  return json::serialize(root);
}

Result<std::unique_ptr<OlmMachine>> OlmMachine::deserialize(std::string_view text, std::string_view key,
                                                            const std::string& user_id,
                                                            const std::string& device_id,
                                                            OlmMachineConfig config) {
  std::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return chorus::fail(Code::DataLoss, "Olm state: not JSON");
  const auto& o = v.get_object();
  if (stringAt(o, "user_id") != std::optional<std::string_view>(user_id) ||
      stringAt(o, "device_id") != std::optional<std::string_view>(device_id)) {
    return chorus::fail(Code::FailedPrecondition, "Olm state belongs to another user or device");
  }
  auto pickled = stringAt(o, "account");
  if (!pickled) return chorus::fail(Code::DataLoss, "Olm state: no account");
  auto account = OlmAccount::unpickle(key, *pickled);
  if (!account) return chorus::fail(account.error());
  std::unique_ptr<OlmMachine> m(new OlmMachine(user_id, device_id, config, std::move(*account)));
  if (auto st = m->init(); !st) return chorus::fail(st.error());
  m->store_key_ = std::string(key);
  auto flag = [&](std::string_view k) {
    const auto* b = o.if_contains(k);
    return b && b->is_bool() && b->get_bool();
  };
  m->device_keys_uploaded_ = flag("device_keys_uploaded");
  m->fallback_published_ = flag("fallback_published");
  if (const auto* u = o.if_contains("use_counter"); u && u->is_uint64()) m->use_counter_ = u->get_uint64();
  if (const auto* u = o.if_contains("use_counter"); u && u->is_int64()) {
    m->use_counter_ = static_cast<std::uint64_t>(u->get_int64());
  }
  if (const auto* ds = o.if_contains("devices"); ds && ds->is_array()) {
    for (const auto& e : ds->get_array()) {
      if (!e.is_object()) continue;
      const auto& d = e.get_object();
      auto u = stringAt(d, "user_id"), id = stringAt(d, "device_id"), c = stringAt(d, "curve25519"),
           ed = stringAt(d, "ed25519");
      if (!u || !id || !c || !ed || m->device_count_ >= config.max_devices) continue;
      if (m->devices_[std::string(*u)]
              .emplace(std::string(*id),
                       DeviceKeys{std::string(*u), std::string(*id), std::string(*c), std::string(*ed)})
              .second) {
        ++m->device_count_;
      }
    }
  }
  if (const auto* ss = o.if_contains("sessions"); ss && ss->is_array()) {
    for (const auto& e : ss->get_array()) {
      if (!e.is_object()) continue;
      const auto& s = e.get_object();
      auto peer = stringAt(s, "peer"), p = stringAt(s, "pickle");
      if (!peer || !p) continue;
      auto session = OlmSession::unpickle(key, *p);
      if (!session) continue;
      auto id = session->sessionId();
      std::uint64_t used = 0;
      if (const auto* lu = s.if_contains("last_used"); lu && lu->is_number()) {
        used = lu->to_number<std::uint64_t>(ec);
      }
      Peer& pr = m->peer(std::string(*peer));
      if (pr.sessions.size() >= config.max_sessions_per_peer) continue;
      pr.sessions.push_back(Session{std::move(*session), id ? *id : std::string(), used});
      pr.last_used = std::max(pr.last_used, used);
    }
  }
  if (const auto* r = o.if_contains("replay"); r && r->is_array()) {
    for (const auto& d : r->get_array()) {
      if (d.is_uint64()) m->remember(d.get_uint64());
      if (d.is_int64()) m->remember(static_cast<std::uint64_t>(d.get_int64()));
    }
  }
  return m;
}

Status OlmMachine::save() {
  if (store_path_.empty() || !dirty_) return ok();
  auto text = serialize();
  if (!text) return chorus::fail(text.error());
  auto sealed = seal(store_key_, *text);
  explicit_bzero(text->data(), text->size());
  if (!sealed) return chorus::fail(sealed.error());
  if (auto st = writeAtomically(store_path_, *sealed); !st) return st;
  dirty_ = false;
  return ok();
}

// ---------------------------------------------------------------- /keys/upload

Result<json::object> OlmMachine::signedKey(const std::string& key, bool fallback) const {
  json::object k{{"key", key}};
  if (fallback) k["fallback"] = true;
  auto sig = account_.sign(canonicalJson(k));
  if (!sig) return chorus::fail(sig.error());
  k["signatures"] = json::object{{user_id_, json::object{{"ed25519:" + device_id_, *sig}}}};
  return k;
}

Result<std::optional<json::object>> OlmMachine::keysToUpload(std::optional<std::int64_t> server_otk_count,
                                                             std::optional<bool> fallback_unused) {
  json::object body;
  if (!device_keys_uploaded_) {
    json::object dk{{"user_id", user_id_},
                    {"device_id", device_id_},
                    {"algorithms", json::array{kOlmAlgorithm, kMegolmAlgorithm}},
                    {"keys", json::object{{"curve25519:" + device_id_, identity_.curve25519},
                                          {"ed25519:" + device_id_, identity_.ed25519}}}};
    auto sig = account_.sign(canonicalJson(dk));
    if (!sig) return chorus::fail(sig.error());
    dk["signatures"] = json::object{{user_id_, json::object{{"ed25519:" + device_id_, *sig}}}};
    body["device_keys"] = std::move(dk);
  }
  auto unpublished = account_.unpublishedOneTimeKeys();
  if (!unpublished) return chorus::fail(unpublished.error());
  std::size_t want = 0;
  if (server_otk_count) {
    const auto have = static_cast<std::size_t>(std::max<std::int64_t>(0, *server_otk_count));
    if (have < oneTimeKeyTarget()) want = oneTimeKeyTarget() - have;
  } else if (!device_keys_uploaded_) {
    want = oneTimeKeyTarget();
  }
  if (want > unpublished->size()) {
    if (auto st = account_.generateOneTimeKeys(want - unpublished->size()); !st)
      return chorus::fail(st.error());
    dirty_ = true;
    unpublished = account_.unpublishedOneTimeKeys();
    if (!unpublished) return chorus::fail(unpublished.error());
  }
  if (!unpublished->empty()) {
    json::object otks;
    for (const auto& [id, key] : *unpublished) {
      auto k = signedKey(key, false);
      if (!k) return chorus::fail(k.error());
      otks["signed_curve25519:" + id] = std::move(*k);
    }
    body["one_time_keys"] = std::move(otks);
  }
  auto fallback = account_.unpublishedFallbackKey();
  if (!fallback) return chorus::fail(fallback.error());
  const bool need_fallback = !fallback_published_ || (fallback_unused && !*fallback_unused);
  if (fallback->empty() && need_fallback) {
    if (auto st = account_.generateFallbackKey(); !st) return chorus::fail(st.error());
    dirty_ = true;
    fallback = account_.unpublishedFallbackKey();
    if (!fallback) return chorus::fail(fallback.error());
  }
  if (!fallback->empty()) {
    auto k = signedKey(fallback->begin()->second, true);
    if (!k) return chorus::fail(k.error());
    body["fallback_keys"] = json::object{{"signed_curve25519:" + fallback->begin()->first, std::move(*k)}};
  }
  if (body.empty()) return std::optional<json::object>();
  return std::optional<json::object>(std::move(body));
}

void OlmMachine::keysUploaded() {
  account_.markKeysAsPublished();
  device_keys_uploaded_ = true;
  fallback_published_ = true;
  dirty_ = true;
}

// ---------------------------------------------------------------- /keys/query

json::object OlmMachine::keysQueryBody(const std::vector<std::string>& users) {
  json::object dk;
  for (const auto& u : users) dk[u] = json::array{};
  return json::object{{"device_keys", std::move(dk)}, {"timeout", 10000}};
}

std::size_t OlmMachine::addQueryResult(const json::object& reply) {
  const auto* dk = objectAt(reply, "device_keys");
  if (!dk) return 0;
  std::size_t added = 0;
  for (const auto& [user_key, devices_v] : *dk) {
    const std::string_view user(user_key);
    if (!devices_v.is_object() || !plausibleId(user)) continue;
    for (const auto& [device_key, keys_v] : devices_v.get_object()) {
      const std::string_view device(device_key);
      if (user == user_id_ && device == device_id_) continue;
      if (!keys_v.is_object() || !plausibleId(device)) {
        ++counters_.device_keys_rejected;
        continue;
      }
      const auto& k = keys_v.get_object();
      const auto* keys = objectAt(k, "keys");
      auto curve = keys ? stringAt(*keys, "curve25519:" + std::string(device)) : std::nullopt;
      auto ed = keys ? stringAt(*keys, "ed25519:" + std::string(device)) : std::nullopt;
      if (stringAt(k, "user_id") != std::optional<std::string_view>(user) ||
          stringAt(k, "device_id") != std::optional<std::string_view>(device) || !curve || !ed ||
          !plausibleKey(*curve) || !plausibleKey(*ed) || !verifySigned(k, user, device, *ed)) {
        ++counters_.device_keys_rejected;
        continue;
      }
      if (const DeviceKeys* known = this->device(user, device)) {
        // The spec: a device's keys never change; a different key for a known device id is an attack.
        if (known->curve25519 != *curve || known->ed25519 != *ed) ++counters_.device_keys_rejected;
        continue;
      }
      auto& by_device = devices_[std::string(user)];
      if (device_count_ >= config_.max_devices || by_device.size() >= config_.max_devices_per_user) {
        ++counters_.devices_over_limit;
        continue;
      }
      by_device.emplace(std::string(device), DeviceKeys{std::string(user), std::string(device),
                                                        std::string(*curve), std::string(*ed)});
      ++device_count_;
      ++added;
      dirty_ = true;
    }
  }
  return added;
}

const DeviceKeys* OlmMachine::device(std::string_view user_id, std::string_view device_id) const {
  auto u = devices_.find(user_id);
  if (u == devices_.end()) return nullptr;
  auto d = u->second.find(std::string(device_id));
  return d == u->second.end() ? nullptr : &d->second;
}

std::size_t OlmMachine::deviceCount() const {
  return device_count_;
}

const DeviceKeys* OlmMachine::deviceByCurve(std::string_view user_id, std::string_view curve25519) const {
  auto u = devices_.find(user_id);
  if (u == devices_.end()) return nullptr;
  for (const auto& [id, d] : u->second) {
    if (d.curve25519 == curve25519) return &d;
  }
  return nullptr;
}

// ---------------------------------------------------------------- /keys/claim and sessions

json::object OlmMachine::keysClaimBody(const std::vector<std::pair<std::string, std::string>>& devices) {
  json::object otk;
  for (const auto& [user, device] : devices) {
    auto& u = otk[user];
    if (!u.is_object()) u = json::object{};
    u.get_object()[device] = "signed_curve25519";
  }
  return json::object{{"one_time_keys", std::move(otk)}, {"timeout", 10000}};
}

OlmMachine::Peer& OlmMachine::peer(const std::string& curve25519) {
  auto it = peers_.find(curve25519);
  if (it != peers_.end()) return it->second;
  if (peers_.size() >= config_.max_peers) {
    auto victim = std::min_element(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    counters_.sessions_evicted += victim->second.sessions.size();
    peers_.erase(victim);
  }
  return peers_[curve25519];
}

void OlmMachine::addSession(const std::string& curve25519, OlmSession session) {
  auto id = session.sessionId();
  Peer& p = peer(curve25519);
  if (p.sessions.size() >= config_.max_sessions_per_peer) {
    auto victim =
        std::min_element(p.sessions.begin(), p.sessions.end(),
                         [](const Session& a, const Session& b) { return a.last_used < b.last_used; });
    p.sessions.erase(victim);
    ++counters_.sessions_evicted;
  }
  p.last_used = ++use_counter_;
  p.sessions.push_back(Session{std::move(session), id ? *id : std::string(), p.last_used});
  dirty_ = true;
}

std::size_t OlmMachine::addClaimResult(const json::object& reply) {
  const auto* otk = objectAt(reply, "one_time_keys");
  if (!otk) return 0;
  std::size_t created = 0;
  for (const auto& [user_key, devices_v] : *otk) {
    if (!devices_v.is_object()) continue;
    for (const auto& [device_key, keys_v] : devices_v.get_object()) {
      const DeviceKeys* d = device(std::string_view(user_key), std::string_view(device_key));
      if (!d || !keys_v.is_object()) {
        ++counters_.claimed_keys_rejected;
        continue;
      }
      for (const auto& [key_id, key_v] : keys_v.get_object()) {
        const std::string_view kid(key_id);
        if (kid.substr(0, 18) != "signed_curve25519:" || !key_v.is_object()) continue;
        const auto& k = key_v.get_object();
        auto key = stringAt(k, "key");
        if (!key || !plausibleKey(*key) || !verifySigned(k, d->user_id, d->device_id, d->ed25519)) {
          ++counters_.claimed_keys_rejected;
          continue;
        }
        auto session = OlmSession::createOutbound(account_, d->curve25519, *key);
        if (!session) {
          ++counters_.claimed_keys_rejected;
          continue;
        }
        addSession(d->curve25519, std::move(*session));
        ++counters_.sessions_outbound;
        ++created;
        break;  // one session per device
      }
    }
  }
  return created;
}

bool OlmMachine::hasSession(std::string_view user_id, std::string_view device_id) const {
  const DeviceKeys* d = device(user_id, device_id);
  if (!d) return false;
  auto it = peers_.find(d->curve25519);
  return it != peers_.end() && !it->second.sessions.empty();
}

std::size_t OlmMachine::sessionCount() const {
  std::size_t n = 0;
  for (const auto& [c, p] : peers_) n += p.sessions.size();
  return n;
}

// ---------------------------------------------------------------- encrypt / decrypt

Result<json::object> OlmMachine::encrypt(std::string_view user_id, std::string_view device_id,
                                         std::string_view type, const json::object& content) {
  const DeviceKeys* d = device(user_id, device_id);
  if (!d) return chorus::fail(Code::FailedPrecondition, "no device keys for " + std::string(device_id));
  auto it = peers_.find(d->curve25519);
  if (it == peers_.end() || it->second.sessions.empty()) {
    return chorus::fail(Code::FailedPrecondition, "no Olm session with " + std::string(device_id));
  }
  Peer& p = it->second;
  auto best = std::max_element(p.sessions.begin(), p.sessions.end(),
                               [](const Session& a, const Session& b) { return a.last_used < b.last_used; });
  json::object payload{{"type", type},
                       {"content", content},
                       {"sender", user_id_},
                       {"sender_device", device_id_},
                       {"recipient", user_id},
                       {"recipient_keys", json::object{{"ed25519", d->ed25519}}},
                       {"keys", json::object{{"ed25519", identity_.ed25519}}}};
  std::string plaintext = json::serialize(payload);
  auto ct = best->session.encrypt(plaintext);
  explicit_bzero(plaintext.data(), plaintext.size());
  if (!ct) return chorus::fail(ct.error());
  best->last_used = p.last_used = ++use_counter_;
  dirty_ = true;
  ++counters_.olm_encrypted_sent;
  return json::object{
      {"algorithm", kOlmAlgorithm},
      {"sender_key", identity_.curve25519},
      {"ciphertext", json::object{{d->curve25519, json::object{{"type", static_cast<int>(ct->type)},
                                                               {"body", std::move(ct->body)}}}}}};
}

Unexpected OlmMachine::refuse(std::uint64_t OlmCounters::*reason, Code code, std::string message) {
  ++(counters_.*reason);
  ++counters_.olm_failures;
  return chorus::fail(code, std::move(message));
}

void OlmMachine::remember(std::uint64_t digest) {
  if (!replay_set_.insert(digest).second) return;
  replay_order_.push_back(digest);
  while (replay_order_.size() > config_.replay_window) {
    replay_set_.erase(replay_order_.front());
    replay_order_.pop_front();
  }
}

Result<OlmMachine::Decrypted> OlmMachine::decrypt(std::string_view sender, const json::object& content) {
  using C = OlmCounters;
  auto algorithm = stringAt(content, "algorithm");
  auto sender_key = stringAt(content, "sender_key");
  const auto* ciphertext = objectAt(content, "ciphertext");
  if (algorithm != std::optional<std::string_view>(kOlmAlgorithm) || !sender_key ||
      !plausibleKey(*sender_key) || !ciphertext || !plausibleId(sender)) {
    return refuse(&C::bad_envelope, Code::InvalidArgument, "not an olm.v1 m.room.encrypted content");
  }
  const auto* mine = objectAt(*ciphertext, identity_.curve25519);
  if (!mine) return refuse(&C::not_for_us, Code::NotFound, "no ciphertext for our key");
  const auto* type_v = mine->if_contains("type");
  auto body = stringAt(*mine, "body");
  if (!type_v || !type_v->is_int64() || !body || body->empty() || body->size() > kMaxCiphertextBytes) {
    return refuse(&C::bad_envelope, Code::InvalidArgument, "malformed ciphertext entry");
  }
  const std::int64_t type = type_v->get_int64();
  if (type != 0 && type != 1)
    return refuse(&C::bad_envelope, Code::InvalidArgument, "unknown Olm message type");
  const std::uint64_t digest = digestOf(*sender_key, *body);
  if (seen(digest)) return refuse(&C::replayed, Code::AlreadyExists, "replayed Olm message");

  const std::string their_key(*sender_key);
  std::optional<std::string> plaintext;
  auto it = peers_.find(their_key);
  if (it != peers_.end()) {
    for (auto& s : it->second.sessions) {
      if (type == 0) {
        auto m = s.session.matchesInbound(their_key, *body);
        if (!m || !*m) continue;
        auto pt = s.session.decrypt(0, *body);
        if (!pt) return refuse(&C::undecryptable, Code::DataLoss, "pre-key message of a known session fails");
        plaintext = std::move(*pt);
      } else {
        auto pt = s.session.decrypt(1, *body);
        if (!pt) continue;
        plaintext = std::move(*pt);
      }
      s.last_used = it->second.last_used = ++use_counter_;
      break;
    }
  }
  if (!plaintext) {
    if (type != 0) {
      if (const DeviceKeys* d = deviceByCurve(sender, their_key); d && wedged_.size() < kMaxWedged) {
        wedged_.emplace(d->user_id, d->device_id);
      }
      return refuse(&C::undecryptable, Code::DataLoss, "no Olm session decrypts the message");
    }
    auto inbound = OlmSession::createInbound(account_, their_key, *body);
    if (!inbound) return refuse(&C::undecryptable, Code::DataLoss, "cannot create an inbound Olm session");
    auto pt = inbound->decrypt(0, *body);
    if (!pt) return refuse(&C::undecryptable, Code::DataLoss, "pre-key message does not decrypt");
    plaintext = std::move(*pt);
    addSession(their_key, std::move(*inbound));
    ++counters_.sessions_inbound;
  }
  dirty_ = true;
  remember(digest);
  auto payload = validateOlmPayload(*plaintext, sender, user_id_, identity_.ed25519);
  explicit_bzero(plaintext->data(), plaintext->size());
  if (!payload) return refuse(&C::invalid_payload, payload.error().code, payload.error().message);
  return Decrypted{std::move(*payload), their_key};
}

Result<OlmPayload> OlmMachine::accept(Decrypted decrypted) {
  using C = OlmCounters;
  const DeviceKeys* d = deviceByCurve(decrypted.payload.sender, decrypted.sender_curve25519);
  if (!d) return chorus::fail(Code::NotFound, "the sender's device keys are not known");
  if (d->ed25519 != decrypted.payload.sender_ed25519 ||
      (!decrypted.payload.sender_device.empty() && decrypted.payload.sender_device != d->device_id)) {
    return refuse(&C::wrong_sender_keys, Code::PermissionDenied,
                  "keys.ed25519 is not the sender device's key");
  }
  if (decrypted.payload.sender_device.empty()) decrypted.payload.sender_device = d->device_id;
  ++counters_.olm_decrypted;
  return std::move(decrypted.payload);
}

std::vector<std::pair<std::string, std::string>> OlmMachine::takeWedged() {
  std::vector<std::pair<std::string, std::string>> out(wedged_.begin(), wedged_.end());
  wedged_.clear();
  return out;
}

void OlmMachine::rejectUnverified() {
  ++counters_.unverified_sender;
  ++counters_.olm_failures;
}

// ---------------------------------------------------------------- keys

Result<std::string> loadOrCreateKeyFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    std::string key(kStateKeyBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
      return chorus::fail(Code::Unavailable, "RAND_bytes failed");
    }
    int w = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w < 0) return chorus::fail(Code::Unavailable, "create " + path + ": " + std::strerror(errno));
    const bool good =
        ::write(w, key.data(), key.size()) == static_cast<ssize_t>(key.size()) && ::fsync(w) == 0;
    ::close(w);
    if (!good) {
      ::unlink(path.c_str());
      return chorus::fail(Code::Unavailable, "write " + path + ": " + std::strerror(errno));
    }
    return key;
  }
  if (fd < 0) return chorus::fail(Code::Unavailable, "open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
    ::close(fd);
    return chorus::fail(Code::PermissionDenied, path + " must be a regular file readable only by its owner");
  }
  std::string key(kStateKeyBytes + 1, '\0');
  ssize_t n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(kStateKeyBytes)) {
    return chorus::fail(Code::DataLoss, path + " does not hold a 32-byte key");
  }
  key.resize(kStateKeyBytes);
  return key;
}

Result<std::string> keyFromPassphrase(std::string_view passphrase, std::string_view user_id,
                                      std::string_view device_id) {
  if (passphrase.empty()) return chorus::fail(Code::InvalidArgument, "empty passphrase");
  const std::string salt = "chorus-olm:" + std::string(user_id) + "|" + std::string(device_id);
  std::string key(kStateKeyBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(passphrase.data(), static_cast<int>(passphrase.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()),
                        200'000, EVP_sha256(), static_cast<int>(key.size()),
                        reinterpret_cast<unsigned char*>(key.data())) != 1) {
    return chorus::fail(Code::Internal, "PBKDF2 failed");
  }
  return key;
}

}  // namespace chorus::crypto
