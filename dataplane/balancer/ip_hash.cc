#include "dataplane/balancer/ip_hash.h"

namespace nib {

int IpHashPolicy::pick(const PickContext& ctx) const {
  const auto n = ctx.backends.size();
  if (n == 0) return -1;
  size_t first = ctx.client_hash % n;
  for (size_t step = 0; step < n; ++step) {
    size_t i = (first + step) % n;
    if (ctx.usable(*ctx.backends[i])) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace nib
