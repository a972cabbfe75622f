#pragma once
// Time is the one thing tests fake. Components that decide on time take a
// Clock (or a `now` argument on hot paths) instead of reading the system clock.
#include <chrono>

namespace nib {

using MonoClock = std::chrono::steady_clock;
using MonoTime = MonoClock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Any thread.
  virtual MonoTime now() const = 0;
};

class SystemClock final : public Clock {
 public:
  MonoTime now() const override { return MonoClock::now(); }
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

inline Duration seconds_to_duration(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}

}  // namespace nib
