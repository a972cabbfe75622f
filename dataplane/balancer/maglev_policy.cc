#include "dataplane/balancer/maglev_policy.h"

#include "dataplane/balancer/ip_hash.h"

namespace nib {

int MaglevPolicy::pick(const PickContext& ctx) const {
  if (ctx.maglev == nullptr) {
    static const IpHashPolicy ip_hash;
    return ip_hash.pick(ctx);
  }
  return ctx.maglev->pick(ctx.maglev_hash, [&](int i) { return ctx.usable(*ctx.backends[static_cast<size_t>(i)]); });
}

}  // namespace nib
