#include "dataplane/balancer/priority.h"

namespace nib {

int PriorityPolicy::pick(const PickContext& ctx) const {
  int best = -1;
  uint32_t best_prio = 0;
  for (size_t i = 0; i < ctx.backends.size(); ++i) {
    const Backend& b = *ctx.backends[i];
    if (!ctx.usable(b)) continue;
    if (best < 0 || b.prio() < best_prio) {
      best = static_cast<int>(i);
      best_prio = b.prio();
    }
  }
  return best;
}

}  // namespace nib
