#include "dataplane/balancer/round_robin.h"

namespace nib {

int RoundRobinPolicy::pick(const PickContext& ctx) const {
  const auto n = static_cast<uint32_t>(ctx.backends.size());
  if (n == 0) return -1;
  uint32_t last = ctx.cursor.load(std::memory_order_relaxed);
  for (;;) {
    int chosen = -1;
    for (uint32_t step = 1; step <= n; ++step) {
      uint32_t i = (last + step) % n;
      if (ctx.usable(*ctx.backends[i])) {
        chosen = static_cast<int>(i);
        break;
      }
    }
    if (chosen < 0) return -1;
    // One atomic step per choice: a worker whose view of the cursor is stale
    // (another worker chose meanwhile) scans again from the new position
    // instead of repeating that worker's choice. Lock-free: a retry means
    // another choice succeeded.
    if (ctx.cursor.compare_exchange_weak(last, static_cast<uint32_t>(chosen), std::memory_order_relaxed)) {
      return chosen;
    }
  }
}

}  // namespace nib
