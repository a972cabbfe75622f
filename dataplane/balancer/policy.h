#pragma once
// The seam between Pen's selection modes: each picks the *initial* server for
// a client that has no usable remembered server. Failover (Pen's scan from the
// server after the failed one) is shared by all modes and lives here too.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/config/service_config.h"
#include "dataplane/registry/backend.h"

namespace nib {

using BackendList = std::vector<std::shared_ptr<Backend>>;

struct PickContext {
  const BackendList& backends;
  uint64_t client_hash;              // IpKey::hash() of the client
  MonoTime now;
  std::atomic<uint32_t>& cursor;     // the service's "last server chosen", shared by workers
};

class BalancePolicy {
 public:
  virtual ~BalancePolicy() = default;
  // Any thread. Index into ctx.backends of a server usable for a new client,
  // or -1 when none is.
  virtual int pick(const PickContext& ctx) const = 0;
};

// The policy object for a mode (stateless singletons). kAffinity and
// kRoundRobin both choose round-robin; they differ in tracking, not here.
const BalancePolicy& policy_for(BalanceMode mode);

// Pen's failover: the first server usable for a new client scanning once around
// from the one after `failed` (the failed one is not retried). -1 when none.
int failover_after(const BackendList& backends, int failed, MonoTime now);

}  // namespace nib
