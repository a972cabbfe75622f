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

  // What sleeps until a time on this clock (an EventLoop in epoll_wait) and
  // must look again when the clock jumps instead of ticking.
  class Sleeper {
   public:
    virtual ~Sleeper() = default;
    // The clock jumped; called on the thread that moved it.
    virtual void clock_moved() = 0;
  };
  // Any thread. A clock that jumps (a test's manual clock) calls every
  // registered sleeper's clock_moved() after each jump; the system clock
  // never jumps and keeps no list. A sleeper removes itself before it dies.
  virtual void add_sleeper(Sleeper* /*sleeper*/) {}
  virtual void remove_sleeper(Sleeper* /*sleeper*/) {}
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
