#pragma once
// A clock that moves only when the test says so (Envoy's SimulatedTimeSystem
// idea, not its code). Everything time-driven in the dataplane (timers,
// health checks, blacklists, slow start, drain deadlines, idle and UDP
// session timeouts, client expiry) reads the clock it was given, so a test
// that hands this one to a Dataplane, HealthChecker or EventLoop checks exact
// bounds in milliseconds instead of waiting out wall time with slack.
#include <atomic>
#include <mutex>
#include <vector>

#include "dataplane/base/clock.h"

namespace nib::test {

class ManualClock final : public Clock {
 public:
  // Starts well away from zero: zero means "never" in a few places (a
  // blacklist, a slow start).
  explicit ManualClock(MonoTime start = MonoTime{} + std::chrono::hours(1));

  MonoTime now() const override { return MonoTime(Duration(now_ns_.load(std::memory_order_acquire))); }
  void add_sleeper(Sleeper* sleeper) override;
  void remove_sleeper(Sleeper* sleeper) override;

  // Test thread (never a loop thread of this clock). Moves time forward by
  // `d`, then wakes every event loop on this clock and returns once each has
  // fired the timers due by the new time (see EventLoop::clock_moved). What
  // those timers start (a probe's connect, a close) goes on in real time: wait
  // for its outcome as usual.
  void advance(Duration d);

 private:
  std::atomic<int64_t> now_ns_;
  std::mutex mu_;  // guards sleepers_; held while they are woken
  std::vector<Sleeper*> sleepers_;
};

}  // namespace nib::test
