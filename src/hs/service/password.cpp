#include "hs/service/password.hpp"

#include <sodium.h>

#include <algorithm>

namespace chorus::hs {

namespace {
void ensureInit() {
  static const int rc = sodium_init();  // thread-safe, idempotent
  (void)rc;
}

std::string randomFrom(std::string_view alphabet, std::size_t n) {
  ensureInit();
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(alphabet[randombytes_uniform(static_cast<std::uint32_t>(alphabet.size()))]);
  }
  return out;
}
}  // namespace

std::optional<std::string> hashPassword(const std::string& password, std::uint64_t opslimit,
                                        std::size_t memlimit) {
  ensureInit();
  opslimit = std::max<std::uint64_t>(opslimit, crypto_pwhash_OPSLIMIT_MIN);
  memlimit = std::max<std::size_t>(memlimit, crypto_pwhash_MEMLIMIT_MIN);
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), opslimit, memlimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return std::nullopt;
  }
  return std::string(out);
}

bool verifyPassword(const std::string& hash, const std::string& password) {
  ensureInit();
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

std::string randomAlnum(std::size_t n) {
  return randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", n);
}
std::string randomUpper(std::size_t n) {
  return randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ", n);
}

}  // namespace chorus::hs
