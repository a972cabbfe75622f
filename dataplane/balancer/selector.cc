#include "dataplane/balancer/selector.h"

namespace nib {

Selection Selector::emergency_or_reject(const RegistrySnapshot& snap, MonoTime now, Selection s) {
  if (snap.emergency && snap.emergency->admin_state() == AdminState::kEnabled &&
      !snap.emergency->blacklisted(now)) {
    s.kind = Selection::Kind::kEmergency;
    s.index = -1;
    return s;
  }
  s.kind = Selection::Kind::kReject;
  s.reason = Selection::Reject::kNoBackend;
  return s;
}

Selection Selector::choose(const RegistrySnapshot& snap, AffinityTable& table,
                           std::atomic<uint32_t>& cursor, const IpKey& client, MonoTime now) {
  Selection s;
  const bool tracking = snap.policy.mode != BalanceMode::kRoundRobin;
  if (tracking) {
    if (auto id = table.lookup(client, now)) {
      int idx = snap.index_of(*id);
      if (idx >= 0) {
        if (snap.backends[idx]->usable_for_returning(now)) {
          s.kind = Selection::Kind::kBackend;
          s.index = idx;
          s.returning = true;
          s.attempts = 1;
          return s;
        }
        s.affinity_break = true;
        if (snap.policy.stubborn) {
          s.reason = Selection::Reject::kStubborn;
          return s;
        }
      }
    }
  }
  PickContext ctx{snap.backends, client.hash(), now, cursor};
  int idx = policy_for(snap.policy.mode).pick(ctx);
  if (idx < 0) return emergency_or_reject(snap, now, s);
  s.kind = Selection::Kind::kBackend;
  s.index = idx;
  s.attempts = 1;
  return s;
}

Selection Selector::after_failure(const RegistrySnapshot& snap, const Selection& failed, MonoTime now) {
  Selection s = failed;
  s.returning = false;
  if (failed.kind != Selection::Kind::kBackend) {
    s.kind = Selection::Kind::kReject;
    s.reason = Selection::Reject::kNoBackend;
    return s;
  }
  if (snap.policy.stubborn) {
    s.kind = Selection::Kind::kReject;
    s.reason = Selection::Reject::kStubborn;
    return s;
  }
  // Each regular server is tried at most once, even with no blacklisting.
  const int n = static_cast<int>(snap.backends.size());
  if (failed.attempts < n) {
    int idx = failover_after(snap.backends, failed.index, now);
    if (idx >= 0) {
      s.kind = Selection::Kind::kBackend;
      s.index = idx;
      s.attempts = failed.attempts + 1;
      return s;
    }
  }
  return emergency_or_reject(snap, now, s);
}

void Selector::remember(const RegistrySnapshot& snap, AffinityTable& table, const Selection& served,
                        const IpKey& client, MonoTime now) {
  if (snap.policy.mode == BalanceMode::kRoundRobin) return;
  // The emergency server is a last resort: a client is not pinned to it.
  if (served.kind != Selection::Kind::kBackend) return;
  table.record(client, snap.backends[served.index]->id(), now);
}

}  // namespace nib
