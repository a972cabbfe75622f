#pragma once
// Pen's balancing rules as pure decisions over a registry snapshot, the
// client table and the round-robin cursor. No sockets here: the TCP and UDP
// relays ask, connect, and report failures back.
#include <atomic>
#include <cstdint>
#include <string>

#include "dataplane/affinity/affinity_table.h"
#include "dataplane/balancer/policy.h"
#include "dataplane/registry/backend_registry.h"

namespace nib {

struct Selection {
  enum class Kind { kBackend, kEmergency, kAbuse, kReject };
  // kDenied: the client ACL denied the client and no abuse server would take
  // it (none set, blacklisted, or it failed): counted as rejected_acl only.
  enum class Reject { kNone, kNoBackend, kStubborn, kDenied };

  Kind kind = Kind::kReject;
  int index = -1;             // into snapshot.backends when kBackend
  bool returning = false;     // the client's remembered server
  bool affinity_break = false;  // the remembered server could not take it
  bool pinned = false;        // an operator pin chose (or failed to choose) the server
  Reject reason = Reject::kNone;
  int attempts = 0;           // regular servers tried so far, failover included

  Backend* backend(const RegistrySnapshot& s) const {
    if (kind == Kind::kBackend) return s.backends[index].get();
    if (kind == Kind::kEmergency) return s.emergency.get();
    if (kind == Kind::kAbuse) return s.abuse.get();
    return nullptr;
  }
};

class Selector {
 public:
  // Any thread. Rules 1-3: the remembered server if usable (unless
  // round-robin mode), else the mode's initial choice, else the emergency server.
  // A client in a pinned prefix (snap.pins, any mode) has its pinned server in
  // place of a remembered one and skips the table. A remembered or pinned
  // server that is draining lets its client choose afresh even when stubborn:
  // stubborn keeps clients off failover, not on a server the operator empties.
  // Slow start (snap.slow_start) thins out the new clients of a backend that
  // came up recently (policy.h); returning and pinned clients, and failover,
  // are not affected. A server whose ACL (snap.server_acls, Pen's
  // `server N acl A`) does not permit the client is not usable for it, in
  // every rule, as in Pen. `tracked` false: a client without an address of
  // its own (a Unix socket's, seen as 0.0.0.0), which the table is not asked
  // about (its caller does not remember() it either), so every such client
  // is placed by the mode alone rather than all following the first.
  static Selection choose(const RegistrySnapshot& snap, AffinityTable& table,
                          std::atomic<uint32_t>& cursor, const IpKey& client, MonoTime now, bool tracked = true);

  // Any thread. For a client the ACL denied: Pen's abuse server (-B) when the
  // snapshot has one that is enabled and not blacklisted, else kReject
  // (kDenied). Nothing else is tried, then or after it fails (after_failure
  // rejects anything but a regular backend), and remember() skips it.
  static Selection abuse(const RegistrySnapshot& snap, MonoTime now);

  // Any thread. Rule 4, after `failed`'s connect failed (the caller has
  // blacklisted it): stubborn closes; otherwise the next usable server after the
  // failed one, once around, then the emergency server, then close. Under
  // Maglev "next" is the client's walk of the table (maglev.h), not the list
  // order, so replicas listing the backends differently still agree.
  static Selection after_failure(const RegistrySnapshot& snap, const Selection& failed, const IpKey& client,
                                 MonoTime now);

  // Any thread. Rule 5: remember the server that now serves the client.
  // Pinned clients are not recorded: the pin is their memory, and they take
  // no table slot from other clients.
  static void remember(const RegistrySnapshot& snap, AffinityTable& table, const Selection& served,
                       const IpKey& client, MonoTime now);

  // Any thread. For debug lines (-d), never on the default path: "server 1
  // 10.0.0.2:80 (returning)", "the emergency server 10.0.0.9:80", "the abuse
  // server 10.0.0.8:80", "no server (stubborn)".
  static std::string describe(const RegistrySnapshot& snap, const Selection& s);

 private:
  // Rule 4 for Maglev (mode maglev, or affinity with consistent): the next
  // usable server in the client's walk of the table (maglev.h), `failed` excluded.
  static int maglev_failover(const RegistrySnapshot& snap, int failed, const IpKey& client, MonoTime now);
  static Selection emergency_or_reject(const RegistrySnapshot& snap, MonoTime now, Selection s);
  // Rules 1-2 for the remembered (or pinned) server at `idx`: true when `s` is
  // decided (served there, or closed as stubborn).
  static bool try_remembered(const RegistrySnapshot& snap, int idx, const IpKey& client, MonoTime now, Selection& s);
};

}  // namespace nib
