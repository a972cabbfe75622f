#include "dataplane/balancer/policy.h"

#include "dataplane/balancer/ip_hash.h"
#include "dataplane/balancer/maglev_policy.h"
#include "dataplane/balancer/priority.h"
#include "dataplane/balancer/round_robin.h"
#include "dataplane/balancer/weighted.h"

namespace nib {

const BalancePolicy& policy_for(BalanceMode mode) {
  static const RoundRobinPolicy round_robin;
  static const IpHashPolicy ip_hash;
  static const WeightedPolicy weighted;
  static const PriorityPolicy priority;
  static const MaglevPolicy maglev;
  switch (mode) {
    case BalanceMode::kHash: return ip_hash;
    case BalanceMode::kWeight: return weighted;
    case BalanceMode::kPrio: return priority;
    case BalanceMode::kMaglev: return maglev;
    case BalanceMode::kAffinity:
    case BalanceMode::kRoundRobin: return round_robin;
  }
  return round_robin;
}

int failover_after(const RegistrySnapshot& snap, int failed, const IpKey& client, MonoTime now) {
  const BackendList& backends = snap.backends;
  const int n = static_cast<int>(backends.size());
  for (int step = 1; step < n; ++step) {
    int i = (failed + step) % n;
    if (backends[i]->usable_for_new(now) && snap.server_permits(*backends[i], client)) return i;
  }
  return -1;
}

}  // namespace nib
