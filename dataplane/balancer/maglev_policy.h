#pragma once
#include "dataplane/balancer/policy.h"

namespace nib {

// mode maglev, and affinity with consistent: the snapshot's Maglev table
// (ctx.maglev, built by the registry) picks by the client's IP, stepping over
// unusable backends by maglev.h's failover rule, so every replica with the
// same backends and the same view of their health agrees. Without a table
// (the registry could not build one) it scans as mode hash does.
class MaglevPolicy final : public BalancePolicy {
 public:
  int pick(const PickContext& ctx) const override;
};

}  // namespace nib
