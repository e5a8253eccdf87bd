#pragma once
#include <cstdint>

namespace chorus {

// Milliseconds since the POSIX epoch (Matrix timestamps such as expires_ts are wall-clock).
using TimeMs = std::int64_t;

// Injected time source (Envoy's TimeSource idea): core never reads the clock itself.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs nowMs() const = 0;
  // True when nowMs() is CLOCK_REALTIME, the clock the kernel stamps received datagrams with.
  virtual bool isRealtime() const { return false; }
};

class SystemClock final : public Clock {
 public:
  TimeMs nowMs() const override;
  bool isRealtime() const override { return true; }
};

// A clock that only moves when told to; for tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimeMs start = 1'700'000'000'000) : now_(start) {}
  TimeMs nowMs() const override { return now_; }
  void advance(TimeMs delta) { now_ += delta; }
  void set(TimeMs t) { now_ = t; }

 private:
  TimeMs now_;
};

}  // namespace chorus
