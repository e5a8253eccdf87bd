#pragma once
// Password hashing (libsodium crypto_pwhash_str, Argon2id) and unguessable identifiers.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace chorus::hs {

// Returns nullopt only when the KDF fails (out of memory).
std::optional<std::string> hashPassword(const std::string& password, std::uint64_t opslimit,
                                        std::size_t memlimit);
bool verifyPassword(const std::string& hash, const std::string& password);

// [A-Za-z0-9] from the OS CSPRNG.
std::string randomAlnum(std::size_t n);
// [A-Z] from the OS CSPRNG (device ids, as Synapse makes them).
std::string randomUpper(std::size_t n);

}  // namespace chorus::hs
