#include "dataplane/balancer/weighted.h"

namespace nib {

int WeightedPolicy::pick(const PickContext& ctx) const {
  int best = -1;
  uint64_t best_active = 0, best_weight = 1;
  for (size_t i = 0; i < ctx.backends.size(); ++i) {
    const Backend& b = *ctx.backends[i];
    uint64_t w = b.weight();
    if (w == 0 || !ctx.usable(b)) continue;
    auto active = static_cast<uint64_t>(b.active() < 0 ? 0 : b.active());
    // active/w < best_active/best_weight, without division.
    if (best < 0 || active * best_weight < best_active * w) {
      best = static_cast<int>(i);
      best_active = active;
      best_weight = w;
    }
  }
  return best;
}

}  // namespace nib
