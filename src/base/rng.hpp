#pragma once
#include <cstdint>
#include <random>
#include <string>

namespace chorus {

// Injected randomness, so tests are deterministic.
class Rng {
 public:
  virtual ~Rng() = default;
  virtual std::uint64_t next() = 0;
  // Uniform in [0, bound).
  std::uint64_t below(std::uint64_t bound);
  // Random string of [A-Za-z0-9], as matrix-js-sdk's randomString / secureRandomString.
  std::string alnum(std::size_t length);
};

// Seeded from std::random_device (the OS entropy source).
class SystemRng final : public Rng {
 public:
  SystemRng();
  std::uint64_t next() override;

 private:
  std::mt19937_64 engine_;
};

// Deterministic generator (splitmix64) for tests.
class FakeRng final : public Rng {
 public:
  explicit FakeRng(std::uint64_t seed = 1) : state_(seed) {}
  std::uint64_t next() override;

 private:
  std::uint64_t state_;
};

}  // namespace chorus
