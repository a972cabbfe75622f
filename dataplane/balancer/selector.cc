#include "dataplane/balancer/selector.h"

namespace nib {
namespace {

// Slow start's draw: xorshift32 per thread (each worker its own), no lock,
// no shared cache line.
uint32_t next_roll() {
  thread_local uint32_t x = 2463534242u;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

}  // namespace

Selection Selector::emergency_or_reject(const RegistrySnapshot& snap, MonoTime now, Selection s) {
  if (snap.emergency && snap.emergency->admin_state() == AdminState::kEnabled &&
      snap.emergency->health_up() && !snap.emergency->blacklisted(now)) {
    s.kind = Selection::Kind::kEmergency;
    s.index = -1;
    return s;
  }
  s.kind = Selection::Kind::kReject;
  s.reason = Selection::Reject::kNoBackend;
  return s;
}

Selection Selector::abuse(const RegistrySnapshot& snap, MonoTime now) {
  Selection s;
  // No health check runs on it; Pen's blacklist after a failed connect does.
  if (snap.abuse && snap.abuse->admin_state() == AdminState::kEnabled && !snap.abuse->blacklisted(now)) {
    s.kind = Selection::Kind::kAbuse;
    return s;
  }
  s.reason = Selection::Reject::kDenied;
  return s;
}

bool Selector::try_remembered(const RegistrySnapshot& snap, int idx, const IpKey& client, MonoTime now,
                              Selection& s) {
  const Backend& b = *snap.backends[idx];
  if (b.usable_for_returning(now) && snap.server_permits(b, client)) {
    s.kind = Selection::Kind::kBackend;
    s.index = idx;
    s.returning = true;
    s.attempts = 1;
    return true;
  }
  s.affinity_break = true;
  if (snap.policy.stubborn && b.admin_state() != AdminState::kDraining) {
    s.reason = Selection::Reject::kStubborn;
    return true;
  }
  return false;
}

Selection Selector::choose(const RegistrySnapshot& snap, AffinityTable& table,
                           std::atomic<uint32_t>& cursor, const IpKey& client, MonoTime now, bool tracked) {
  Selection s;
  std::optional<uint32_t> remembered;
  if (snap.pins) [[unlikely]] {
    remembered = snap.pins->find(client);
    s.pinned = remembered.has_value();
  }
  if (!s.pinned && tracked && snap.policy.mode != BalanceMode::kRoundRobin) remembered = table.lookup(client, now);
  if (remembered) {
    int idx = snap.index_of(*remembered);
    if (idx >= 0 && try_remembered(snap, idx, client, now, s)) return s;
  }
  PickContext ctx{snap.backends, client.hash(), now, cursor};
  if (snap.server_acls) [[unlikely]] {
    ctx.server_acls = &snap;
    ctx.client = &client;
  }
  const BalanceMode mode = initial_choice(snap.policy);
  if (mode == BalanceMode::kMaglev) {
    ctx.maglev = snap.maglev.get();
    ctx.maglev_hash = MaglevTable::client_hash(client);
  }
  const BalancePolicy& policy = policy_for(mode);
  if (snap.slow_start != Duration::zero()) {
    ctx.slow_start = snap.slow_start;
    ctx.roll = next_roll();
  }
  int idx = policy.pick(ctx);
  if (idx < 0 && ctx.slow_start != Duration::zero()) {
    // Every usable server is ramping up and none drew this client: slow
    // start spreads clients, it never turns one away.
    ctx.slow_start = Duration::zero();
    idx = policy.pick(ctx);
  }
  if (idx < 0) return emergency_or_reject(snap, now, s);
  s.kind = Selection::Kind::kBackend;
  s.index = idx;
  s.attempts = 1;
  return s;
}

int Selector::maglev_failover(const RegistrySnapshot& snap, int failed, const IpKey& client, MonoTime now) {
  // The client's own walk through the table, as a replica that already saw
  // `failed` fail (blacklisted) would pick: the same answer on every replica.
  // Servers that failed earlier for this client are skipped by their
  // blacklist; with blacklisting off one may be tried again, within the
  // caller's bound of one attempt per server.
  return snap.maglev->pick(MaglevTable::client_hash(client), [&](int i) {
    const Backend& b = *snap.backends[static_cast<size_t>(i)];
    return i != failed && b.usable_for_new(now) && snap.server_permits(b, client);
  });
}

Selection Selector::after_failure(const RegistrySnapshot& snap, const Selection& failed, const IpKey& client,
                                  MonoTime now) {
  Selection s = failed;
  s.returning = false;
  if (failed.kind != Selection::Kind::kBackend) {
    // No failover from the emergency server (the last resort) nor from the
    // abuse server (Pen's: its clients are denied the real ones).
    s.kind = Selection::Kind::kReject;
    s.reason = failed.kind == Selection::Kind::kAbuse ? Selection::Reject::kDenied : Selection::Reject::kNoBackend;
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
    int idx = initial_choice(snap.policy) == BalanceMode::kMaglev && snap.maglev
                  ? maglev_failover(snap, failed.index, client, now)
                  : failover_after(snap, failed.index, client, now);
    if (idx >= 0) {
      s.kind = Selection::Kind::kBackend;
      s.index = idx;
      s.attempts = failed.attempts + 1;
      return s;
    }
  }
  return emergency_or_reject(snap, now, s);
}

std::string Selector::describe(const RegistrySnapshot& snap, const Selection& s) {
  switch (s.kind) {
    case Selection::Kind::kBackend: {
      std::string how = s.pinned ? "pinned" : s.returning ? "returning" : s.attempts > 1 ? "failover" : "new";
      return "server " + std::to_string(s.index) + " " + snap.backends[s.index]->address().to_string() + " (" + how +
             ")";
    }
    case Selection::Kind::kEmergency: return "the emergency server " + snap.emergency->address().to_string();
    case Selection::Kind::kAbuse: return "the abuse server " + snap.abuse->address().to_string();
    case Selection::Kind::kReject: break;
  }
  if (s.reason == Selection::Reject::kDenied) return "no server (denied by the acl)";
  return s.reason == Selection::Reject::kStubborn ? "no server (stubborn)" : "no server";
}

void Selector::remember(const RegistrySnapshot& snap, AffinityTable& table, const Selection& served,
                        const IpKey& client, MonoTime now) {
  if (snap.policy.mode == BalanceMode::kRoundRobin || served.pinned) return;
  // The emergency server is a last resort: a client is not pinned to it; nor
  // to the abuse server, which only the ACL decides.
  if (served.kind != Selection::Kind::kBackend) return;
  table.record(client, snap.backends[served.index]->id(), now);
}

}  // namespace nib
