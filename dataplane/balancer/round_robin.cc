#include "dataplane/balancer/round_robin.h"

namespace nib {

int RoundRobinPolicy::pick(const PickContext& ctx) const {
  const auto n = static_cast<uint32_t>(ctx.backends.size());
  if (n == 0) return -1;
  uint32_t last = ctx.cursor.load(std::memory_order_relaxed);
  for (uint32_t step = 1; step <= n; ++step) {
    uint32_t i = (last + step) % n;
    if (ctx.usable(*ctx.backends[i])) {
      // Two workers racing here may both pick i; Pen's order is kept per
      // connection, and alternation holds whenever connections are sequential.
      ctx.cursor.store(i, std::memory_order_relaxed);
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace nib
