#pragma once
// The shared registry on etcd (SharedRegistry, admin/core/shared_registry.h).
//
// Layout: one key per object under the prefix (default /nib/), each value
// the object's record of the state file (proto/nib/admin/v1/state.proto) as
// JSON, so the registry and --state agree on every field and its checks:
//   PREFIX initialized                        written once, by the first replica
//   PREFIX services/NAME/policy               StatePolicy
//   PREFIX services/NAME/client_acl           StateAcl
//   PREFIX services/NAME/backends/IP:PORT     StateBackend
//   PREFIX services/NAME/pins/PREFIX          StatePin
// A service with no key is not shared (its configuration runs as is).
//
// Reading: one thread (the watcher) reads every key once, then watches the
// prefix from the next revision and applies each change to the dataplane
// (reconcile_service, state_store.h). After a disconnect it resumes from the
// revision it applied; when etcd compacted that history away it reads
// everything again. The first replica to find the prefix empty writes what
// it runs (`initialized` guards it, so one replica does it).
//
// Writing (change()): the edit runs on the service's objects as this replica
// last read them; the objects it changes are written in one transaction
// that compares each one's mod revision (create revision 0 for a new one).
// When another replica got there first, the service is read again and the
// edit runs on that, up to kMaxAttempts times. The call returns once the
// watcher applied the write's revision.
//
// Thread contract: start/stop on the main thread; change, status and health
// from any thread, concurrently.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "admin/core/shared_registry.h"
#include "admin/registry/etcd_client.h"
#include "dataplane/base/clock.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

struct EtcdRegistryOptions {
  EtcdOptions etcd;
  std::string prefix = "/nib/";
  // How long a change waits for this replica to apply its write.
  std::chrono::milliseconds apply_timeout{5000};
  // Between attempts to reach etcd again.
  std::chrono::milliseconds retry_interval{500};
};

class EtcdRegistry final : public SharedRegistry {
 public:
  explicit EtcdRegistry(EtcdRegistryOptions options);
  ~EtcdRegistry() override;  // stop()
  EtcdRegistry(const EtcdRegistry&) = delete;
  EtcdRegistry& operator=(const EtcdRegistry&) = delete;

  // Main thread, before the dataplane starts: everything under the prefix as
  // a state (services with at least one key), read once with the revision
  // the watcher resumes from. nullopt when the prefix is empty (nothing
  // shared yet); kUnavailable when etcd cannot be reached.
  [[nodiscard]] Result<std::optional<SavedState>> load();
  // Main thread, once the dataplane runs: starts the watcher (which writes
  // the running state first when the prefix is empty). `dataplane` must
  // outlive the registry (or its stop()).
  void start(Dataplane& dataplane);
  // Idempotent; joins the watcher. Changes waiting fail with kUnavailable.
  void stop();

  // Any thread: the shared state as this replica last applied it.
  SavedState state() const;

  Status change(const std::string& service, const Edit& edit) override;
  RegistryStatus status() const override;
  Status health() const override;

  static constexpr int kMaxAttempts = 32;

 private:
  struct Object {
    std::string value;
    int64_t mod_revision = 0;
  };
  using Objects = std::map<std::string, Object>;  // key -> object

  // ---- Watcher thread.
  void run();
  // Reads everything, applies every shared service; false when etcd failed.
  bool resync();
  // Writes the running state when the prefix holds nothing yet.
  Status initialize();
  void apply(const std::set<std::string>& services);
  void set_applied(int64_t revision);
  void record_contact(int64_t revision);
  void record_failure(const Status& st);
  // Waits `interval` unless stop() comes first; false when stopping.
  bool pause(std::chrono::milliseconds interval);

  // ---- Any thread.
  static Objects to_objects(const etcdserverpb::RangeResponse& r);
  // The prefix holds the `initialized` marker: some replica wrote its state.
  bool initialized(const etcdserverpb::RangeResponse& r) const;
  // The service's objects from `objects` as a state (nullopt: no key; an
  // error: a key that does not parse).
  Result<std::optional<SavedService>> assemble(const std::string& service, const Objects& objects) const;
  // The service's objects read from etcd now, and the revision read at.
  Result<Objects> fetch_service(const std::string& service, int64_t* revision);
  Objects cached_service(const std::string& service) const;
  // `saved` as key -> value.
  std::map<std::string, std::string> encode(const SavedService& saved) const;
  // Waits until the watcher applied `revision`.
  Status wait_applied(int64_t revision);
  std::string service_prefix(const std::string& service) const;
  // "NAME" from "PREFIX services/NAME/..."; empty when not a service key.
  std::string service_of(const std::string& key) const;

  Dataplane* dataplane_ = nullptr;  // set by start(), before the watcher runs
  const EtcdRegistryOptions options_;
  EtcdClient client_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Objects objects_;                 // what the watcher applied
  int64_t applied_revision_ = 0;    // guarded by mutex_
  int64_t known_revision_ = 0;
  bool connected_ = false;
  bool stopping_ = false;
  std::optional<MonoTime> last_contact_;
  std::string last_error_ = "not connected yet";
  RegistryStatus counters_;         // the counters only

  std::thread watcher_;
  std::unique_ptr<EtcdClient::Watch> watch_;  // guarded by mutex_, for stop() to cancel
};

}  // namespace nib::admin
