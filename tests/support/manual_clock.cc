#include "tests/support/manual_clock.h"

#include <algorithm>

namespace nib::test {

ManualClock::ManualClock(MonoTime start) : now_ns_(start.time_since_epoch().count()) {}

void ManualClock::add_sleeper(Sleeper* sleeper) {
  std::lock_guard lock(mu_);
  sleepers_.push_back(sleeper);
}

void ManualClock::remove_sleeper(Sleeper* sleeper) {
  std::lock_guard lock(mu_);
  std::erase(sleepers_, sleeper);
}

void ManualClock::advance(Duration d) {
  now_ns_.fetch_add(d.count(), std::memory_order_acq_rel);
  // Held while waking, so no loop leaves (and is destroyed) mid-wake-up.
  std::lock_guard lock(mu_);
  for (Sleeper* s : sleepers_) s->clock_moved();
}

}  // namespace nib::test
