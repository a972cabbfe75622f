#pragma once
// The registry several nib replicas share (--registry-etcd; the store is in
// admin/registry): the backends, their operator state, pins, policies and
// client ACLs every replica runs. With one, the admin core writes each change
// there instead of applying it locally; every replica, the writer included,
// applies it when the registry's watch delivers it, so all replicas run the
// same state and a change is answered once this replica runs it.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "admin/state/state_store.h"
#include "dataplane/base/status.h"

namespace nib::admin {

struct RegistryStatus {
  std::string store;                   // "etcd"
  std::vector<std::string> endpoints;  // as configured
  std::string endpoint;                // the member in use
  std::string prefix;
  bool connected = false;              // the watch is up and the last call reached etcd
  int64_t applied_revision = 0;        // the store's revision this replica runs
  int64_t known_revision = 0;          // the newest revision etcd reported
  double seconds_since_contact = -1;   // since etcd last answered; -1: never
  std::string last_error;              // empty while connected
  uint64_t writes = 0;                 // changes written
  uint64_t conflicts = 0;              // writes retried: another replica changed the object first
  uint64_t write_failures = 0;         // changes refused: etcd unreachable or too busy
  uint64_t resyncs = 0;                // full reads (start, compaction, a lost watch history)
  uint64_t reconnects = 0;             // watches opened again after a failure
  uint64_t apply_errors = 0;           // objects this replica could not apply (logged)

  // Revisions etcd reported that this replica has not applied yet.
  int64_t lag() const { return known_revision > applied_revision ? known_revision - applied_revision : 0; }
};

class SharedRegistry {
 public:
  virtual ~SharedRegistry() = default;
  // An edit of one service's shared state. It may run more than once (again
  // on the fresh state after a conflicting write), each time on a fresh
  // copy, so it must have no other effect; an error from it changes nothing.
  using Edit = std::function<Status(SavedService&)>;
  // Any thread. Writes `edit`'s result as one compare-and-swap transaction on
  // the objects it changes, and returns once this replica runs it.
  // kUnavailable when the registry cannot be reached (nothing changed), or
  // when the change is written but this replica has not applied it yet.
  [[nodiscard]] virtual Status change(const std::string& service, const Edit& edit) = 0;
  // Any thread.
  virtual RegistryStatus status() const = 0;
  // Any thread. OK while connected; the link's error otherwise (readiness).
  virtual Status health() const = 0;
};

}  // namespace nib::admin
