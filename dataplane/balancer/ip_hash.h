#pragma once
#include "dataplane/balancer/policy.h"

namespace nib {

// Pen's -h: a hash of the client IP picks the server, so a client lands on the
// same server across restarts even without the table. Unlike Pen's address
// modulo count, the hash is mixed, so 127.x or 10.x ranges spread evenly.
// When the hashed server is unusable, the scan goes on from the next one.
class IpHashPolicy final : public BalancePolicy {
 public:
  int pick(const PickContext& ctx) const override;
};

}  // namespace nib
