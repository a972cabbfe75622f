#pragma once
#include "dataplane/balancer/policy.h"

namespace nib {

// Pen's default initial choice: the next usable server after the last one chosen.
class RoundRobinPolicy final : public BalancePolicy {
 public:
  int pick(const PickContext& ctx) const override;
};

}  // namespace nib
