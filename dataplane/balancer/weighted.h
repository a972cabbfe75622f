#pragma once
#include "dataplane/balancer/policy.h"

namespace nib {

// Pen's -W: the usable server with the fewest active connections per unit of
// weight; ties go to the server listed first. Weight 0 takes no new clients.
class WeightedPolicy final : public BalancePolicy {
 public:
  int pick(const PickContext& ctx) const override;
};

}  // namespace nib
