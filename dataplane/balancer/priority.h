#pragma once
#include "dataplane/balancer/policy.h"

namespace nib {

// Pen's -o prio: the usable server with the lowest prio value; among equal
// prios the one listed first. Lower tiers take clients only when every server
// of a better tier is down or full.
class PriorityPolicy final : public BalancePolicy {
 public:
  int pick(const PickContext& ctx) const override;
};

}  // namespace nib
