#pragma once
// Runtime changes that survive a restart (--state FILE, admin.state_file):
// the backends, drains, pins and policy an operator set through the admin
// APIs are saved to a small JSON file (nib.admin.v1.StateFile, version 2, in
// proto/nib/admin/v1/state.proto) and put back when nib starts, after the
// configuration is loaded. The file is the runtime view of each service it
// names: for those services it wins over the configuration's backend list
// (delete the file to start from the configuration alone).
//
// The file is written by StateWriter (state_writer.h) through
// write_file_atomically (dataplane/base/atomic_file.h), so a crash at any
// point leaves either the old file or the new one.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/net/access_list.h"
#include "dataplane/net/ip_prefix.h"
#include "dataplane/registry/backend.h"

namespace nib {
class Dataplane;
}
namespace nib::admin::v1 {
class StateService;
}

namespace nib::admin {

struct SavedBackend {
  std::string host;
  SocketAddress address;
  uint32_t weight = 1, prio = 0, soft_limit = 0, hard_limit = 0;
  std::optional<ProxyProtocol> proxy_protocol;  // nullopt: the service's
  bool tcp_fast_open = false;
  AdminState admin_state = AdminState::kEnabled;
};

struct SavedPin {
  IpPrefix prefix;
  SocketAddress backend;  // by address: backend ids are not stable across restarts
};

struct SavedService {
  std::string name;
  PolicyConfig policy;
  // Whether the file had the policy's connection settings: files of earlier
  // nibs do not, and the configuration's values then stay (saved_policy()).
  bool has_connect_timeout = true, has_idle_timeout = true, has_max_connections = true, has_pending_max = true,
       has_idlers = true;
  std::vector<SavedBackend> backends;
  std::vector<SavedPin> pins;
  // The client ACL in force; nullopt in files of earlier nibs (the
  // configuration's list stays).
  std::optional<AccessList> client_acl;
  // A TLS service's settings (the ones the admin API changes: files,
  // min_version, ciphers, client_auth, ALPN); nullopt without TLS and in files
  // of earlier nibs (the configuration's stay).
  std::optional<TlsConfig> tls;
};

// The saved policy over `current` (the configuration's or the running one):
// connection settings the file lacks keep their value in `current`.
PolicyConfig saved_policy(const SavedService& saved, const PolicyConfig& current);

struct SavedState {
  std::vector<SavedService> services;
};

// The file's text (version 2, JSON); parse_state(serialize_state(s)) gives s
// back for every s that check_state() accepts.
std::string serialize_state(const SavedState& state);
// The rules the admin API applies to what it stores, so the writer cannot
// save what the reader would refuse: service names by kServiceNameRule, each
// once; policies and backends as the registry checks them (ranges, a port
// 1-65535, hosts by check_host()); no backend twice in a service, no prefix
// pinned twice. kInvalidArgument naming the service and record.
Status check_state(const SavedState& state);
// Reads version 2 (JSON) and version 1 (the line format of earlier nibs,
// starting "nib-state 1"). Errors (kInvalidArgument) name source_name and the
// record (version 1: the line): malformed records, and records check_state()
// refuses. A file cut short is an error, never half a state (JSON that does
// not parse; version 1 without its final "end" line).
Result<SavedState> parse_state(std::string_view text, const std::string& source_name);
// One service as the file's record (nib.admin.v1.StateService), and back:
// the shared registry (admin/registry) stores each of its objects in this
// form. read_service checks every record as parse_state() does; errors start
// with `where`.
void save_service(const SavedService& service, v1::StateService* out);
Result<SavedService> read_service(const v1::StateService& in, const std::string& where);
// Missing file: nullopt (first start). Unreadable or corrupt: an error.
Result<std::optional<SavedState>> load_state_file(const std::string& path);

// What the dataplane runs now (the emergency server is config-only: not saved).
SavedState capture_state(const Dataplane& dataplane);
// One service of it; nullopt when the dataplane has no such service.
std::optional<SavedService> capture_service(const Dataplane& dataplane, const std::string& name);
// Before the dataplane starts: each saved service's backend list, policy,
// client ACL and TLS settings (for a service the configuration gives TLS) go
// into its configuration, so no client ever reaches a backend the API removed.
// Backends kept from the configuration keep its settings (health check, host)
// under the saved weight, prio and limits. Drains and pins need the running
// dataplane: restore_state() applies them after start.
void apply_to_config(const SavedState& state, DataplaneConfig* config);
// Makes the running service what `saved` says, changing only what differs:
// backends added, changed (weight, prio, limits, PROXY), drained, disabled,
// enabled again or removed (never those backends_from discovered), the
// policy, pins and client ACL. Idempotent: the shared registry calls it on
// every change it watches. Errors name the service and backend.
Status reconcile_service(Dataplane& dataplane, const SavedService& saved);
// Makes each saved service's backends, drains, pins, policy and client ACL what was saved.
// Services the configuration no longer has are skipped (named in `skipped`).
Status restore_state(Dataplane& dataplane, const SavedState& state, std::vector<std::string>* skipped = nullptr);

}  // namespace nib::admin
