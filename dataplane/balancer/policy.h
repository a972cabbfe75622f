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
#include "dataplane/registry/backend_registry.h"

namespace nib {

// Slow start: a backend that came up `began` (steady ns) ago takes a new
// client when `roll` (uniform over 32 bits) falls within its share, which
// ramps linearly from kSlowStartMinShare to 1 over `window`. Any thread.
inline constexpr double kSlowStartMinShare = 1.0 / 16;
inline bool slow_start_admits(int64_t began, MonoTime now, Duration window, uint32_t roll) {
  if (began == 0) return true;
  const int64_t elapsed = now.time_since_epoch().count() - began;
  if (elapsed >= window.count()) return true;
  double share = static_cast<double>(elapsed) / static_cast<double>(window.count());
  if (share < kSlowStartMinShare) share = kSlowStartMinShare;
  return static_cast<double>(roll) < share * 4294967296.0;
}

struct PickContext {
  const BackendList& backends;
  uint64_t client_hash;              // IpKey::hash() of the client
  MonoTime now;
  std::atomic<uint32_t>& cursor;     // the service's "last server chosen", shared by workers
  Duration slow_start{};             // zero: off
  uint32_t roll = 0;                 // this client's draw for slow start
  // Set only when some server has an ACL (Pen's `server N acl A`).
  const RegistrySnapshot* server_acls = nullptr;
  const IpKey* client = nullptr;
  // Set only when initial_choice() is kMaglev: the snapshot's table (null if
  // it could not be built) and MaglevTable::client_hash() of the client.
  const MaglevTable* maglev = nullptr;
  uint64_t maglev_hash = 0;

  // Usable for this new client: Pen's rules, the server's ACL, then slow
  // start (one relaxed load per candidate, and only when the service has slow start).
  bool usable(const Backend& b) const {
    if (!b.usable_for_new(now)) return false;
    if (server_acls != nullptr && !server_acls->server_permits(b, *client)) return false;
    return slow_start == Duration::zero() || slow_start_admits(b.slow_start_began_ns(), now, slow_start, roll);
  }
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
// The selector asks for initial_choice(policy), so affinity with
// `consistent` gets kMaglev's.
const BalancePolicy& policy_for(BalanceMode mode);

// Pen's failover: the first server usable for `client` as a new client,
// scanning once around from the one after `failed` (the failed one is not
// retried). -1 when none.
int failover_after(const RegistrySnapshot& snap, int failed, const IpKey& client, MonoTime now);

}  // namespace nib
