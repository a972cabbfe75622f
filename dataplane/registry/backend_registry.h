#pragma once
// The sole owner of a service's backends, policy and client pins. Readers take
// an immutable snapshot; every change publishes a new one and bumps the
// generation, so a worker checks one atomic per new connection and refreshes
// only on change. Backend settings and admin state are atomics in the Backend
// itself (so counters and open connections survive); the snapshot says which
// backends exist, in which order, under which policy and pins.
//
// Runtime changes and reloads: a reload (apply) makes the configuration file
// the truth for the list of backends, their settings and the policy. Backends
// added at runtime and missing from the file leave; backends the file keeps
// (matched by address) keep their id, counters, open connections and admin
// state: a drained or disabled backend stays so across a reload, since the file
// cannot express that and the operator did not undo it. Pins to backends that
// leave are dropped.
#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "dataplane/affinity/client_pins.h"
#include "dataplane/balancer/maglev.h"
#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/registry/backend.h"

namespace nib {

struct RegistrySnapshot {
  uint64_t generation = 0;
  BackendList backends;              // in configured order (Pen's server numbers)
  std::shared_ptr<Backend> emergency;  // may be null
  // Pen's abuse server (-B), for clients the ACL denies; may be null. A
  // Backend of its own even when its address is a regular backend's, so its
  // connections and bytes never count against that one.
  std::shared_ptr<Backend> abuse;
  PolicyConfig policy;
  Duration connect_timeout{};
  Duration idle_timeout{};           // zero = never
  uint32_t max_connections = 0;      // zero = unlimited
  Duration slow_start{};             // zero = off
  Duration drain_timeout{};          // zero = a drain waits forever
  std::shared_ptr<const ClientPins> pins;  // null when nothing is pinned
  std::shared_ptr<const AccessList> client_acl;  // null = everyone is served
  // Pen's per-server ACLs (`server N acl A`), by backend id: a server takes
  // only the clients its list permits. Null when no server has one, so the
  // selectors pay one null check.
  std::shared_ptr<const std::unordered_map<uint32_t, AccessList>> server_acls;
  const CountryLookup* countries = nullptr;  // for their country entries
  // The Maglev table new clients are placed by when initial_choice(policy)
  // is kMaglev, else null. Built by publish(), never by a worker. Members:
  // the backends enabled or draining with weight above 0, with their
  // index here. Down, blacklisted, full or slow-starting backends stay in
  // it (a health flap must not reshuffle every client); the selector steps
  // over them (maglev.h's failover rule). Null too when the build failed
  // (more than MaglevTable::kMaxMembers backends): the selector then hashes
  // as mode hash does.
  std::shared_ptr<const MaglevTable> maglev;
  // TLS toward the clients (null: plain TCP): what a connection accepted now
  // starts its session with, and how long its handshake may take.
  std::shared_ptr<const TlsTerminator> tls;
  Duration tls_handshake_timeout{};
  // The settings `tls` was made from (null without TLS): the configuration's,
  // or an operator's through the admin API.
  std::shared_ptr<const TlsConfig> tls_settings;
  // TLS toward the backends (null: plain TCP): what a connection made now
  // re-encrypts with.
  std::shared_ptr<const TlsConnector> backend_tls;

  // Whether `b` may take `client` (its server ACL, if any).
  bool server_permits(const Backend& b, const IpKey& client) const {
    if (!server_acls) return true;
    auto it = server_acls->find(b.id());
    return it == server_acls->end() || it->second.permits(client, countries);
  }

  // Index of backend `id` in `backends`, -1 when it is not there.
  int index_of(uint32_t id) const;

  std::unordered_map<uint32_t, int> index_by_id;
};

// What apply() changed, for the events a reload announces.
struct RegistryDiff {
  std::vector<std::shared_ptr<Backend>> added;
  std::vector<std::shared_ptr<Backend>> removed;
  bool policy_changed = false;
  size_t pins_dropped = 0;
};

class BackendRegistry {
 public:
  // `clock` dates slow starts (backends added at runtime or by a reload) and
  // is handed to every Backend the registry makes.
  // `countries` answers the server ACLs' country entries (null: they match no one).
  explicit BackendRegistry(unsigned workers, const Clock& clock = SystemClock::instance(),
                           const CountryLookup* countries = nullptr)
      : workers_(workers), clock_(clock), countries_(countries) {}

  // Any thread. Makes the registry match `config` (see the header comment):
  // backends with the same address keep their id, counters and admin state,
  // new ones get fresh ids, missing ones leave (their open connections finish).
  RegistryDiff apply(const ServiceConfig& config);

  // ---- Runtime changes. Any thread; serialised with each other and apply().
  // Each validates first: an error (kInvalidArgument, kNotFound,
  // kAlreadyExists) changes nothing; success publishes a new snapshot. Ids name
  // regular backends; the emergency server changes only through the config.

  // A new enabled backend with a fresh id, after the existing ones.
  Result<std::shared_ptr<Backend>> add(const BackendConfig& config);

  struct Patched {
    std::shared_ptr<Backend> backend;
    BackendConfig before;
    AdminState state_before = AdminState::kEnabled;
    // A new address makes a new Backend with the same id in the same place
    // (identity is immutable); the old one lives on while its connections do.
    std::shared_ptr<Backend> replaced;
  };
  // Settings, the enabled flag (enabling ends a drain) and the address.
  Result<Patched> update(uint32_t id, const BackendPatch& patch);

  struct Removed {
    std::shared_ptr<Backend> backend;
    size_t pins_dropped = 0;
  };
  // The backend leaves the snapshot, with its pins; it lives on while
  // connections hold it.
  Result<Removed> remove(uint32_t id);

  // Returns the previous state.
  Result<AdminState> set_admin_state(uint32_t id, AdminState state);

  // Returns the previous policy.
  Result<PolicyConfig> set_policy(const PolicyConfig& policy);

  // Which clients new connections (TCP) and new sessions (UDP) accept; open
  // ones are left alone. A reload sets it back to the file's list.
  void set_client_acl(const AccessList& acl);
  // A TLS service's certificates read again, or its settings changed (the
  // admin API, the watcher): connections accepted from now on use `tls`,
  // made from `settings`.
  void set_tls(std::shared_ptr<const TlsTerminator> tls, std::shared_ptr<const TlsConfig> settings);
  // backend_tls's files read again: connections made from now on use `connector`.
  void set_backend_tls(std::shared_ptr<const TlsConnector> connector);

  // Pen's `server N acl A`: backend `id` takes only the clients `acl`
  // permits from now on (empty: everyone). Kept across a reload while the
  // backend stays; not saved.
  Status set_server_acl(uint32_t id, const AccessList& acl);

  // Pins `prefix` to backend `id` (replacing its pin, if any). Returns the
  // backend it was pinned to before, 0 when none.
  Result<uint32_t> pin(const IpPrefix& prefix, uint32_t id);
  // Returns the backend the prefix was pinned to.
  Result<uint32_t> unpin(const IpPrefix& prefix);

  // Any thread.
  std::shared_ptr<const RegistrySnapshot> snapshot() const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Range checks the runtime changes apply (kInvalidArgument, naming the field).
  static Status check(const BackendConfig& config);
  static Status check(const BackendPatch& patch);
  static Status check(const PolicyConfig& policy);

 private:
  // The old backend at config's address not already in `taken`, updated; or a new one.
  std::shared_ptr<Backend> reuse_or_create(const BackendConfig& config, const RegistrySnapshot* old,
                                           const BackendList& taken);
  // update()'s address change: a new Backend for `out.backend` in `next`
  // (`c`: its settings, completed here). Writer only.
  Status readdress(RegistrySnapshot& next, Patched& out, BackendConfig& c, const BackendPatch& patch);
  // The regular backend `id` in the current snapshot, or kNotFound. Writer only.
  Result<std::shared_ptr<Backend>> find(uint32_t id) const;
  // A copy of the current snapshot to change, then publish(). Writer only.
  std::shared_ptr<RegistrySnapshot> copy() const;
  static void index(RegistrySnapshot& snap);
  // The policy and the durations derived from it, which workers read per connection.
  static void set_policy_fields(RegistrySnapshot& snap, const PolicyConfig& policy);
  // snap.maglev for `snap`'s backends, policy and admin states: null when
  // not needed, `previous` when built from the same members, else a new
  // table. Writer only.
  static void set_maglev(RegistrySnapshot& snap, const std::shared_ptr<const MaglevTable>& previous);
  // Publishes `next` (fills its index, bumps the generation). Writer only.
  void publish(std::shared_ptr<RegistrySnapshot> next);

  const unsigned workers_;
  const Clock& clock_;
  const CountryLookup* const countries_;
  // Writers hold write_mu_ while they build a snapshot; mutex_ guards only the
  // pointer swap, so a worker refreshing its snapshot never waits for a build.
  std::mutex write_mu_;
  mutable std::mutex mutex_;
  std::shared_ptr<const RegistrySnapshot> current_ = std::make_shared<RegistrySnapshot>();
  std::atomic<uint64_t> generation_{0};
  uint32_t next_id_ = 1;
};

}  // namespace nib
