#pragma once
// The admin plane's one core: every admin operation, whichever front end it
// came through (REST in admin/http, gRPC in admin/grpc, Pen's control port in
// admin/penctl). The front ends only transcode: their wire format in, a
// nib.admin.v1 request message here, the answer back out. So this is the one
// place that
// - validates: every range from dataplane/config/limits.h, every stored text
//   through dataplane/config/stored_text.h, with one wording
//   (`field "weight": expected an integer 0-10000, got 10001`);
// - resolves the service a request names (empty: the only one);
// - applies the DNS policy (below);
// - performs each change through the Dataplane, whose patches (backend,
//   policy) apply under the service's admin lock, so concurrent partial
//   updates never lose one another's fields;
// - makes a change durable before it is acknowledged: with a state writer
//   (--state), every change returns only once it is on disk, or fails with
//   kUnavailable saying it is applied but not saved; with a shared registry
//   (replicas on etcd, shared_registry.h), backends, pins, policies and client
//   ACLs are written there first (compare-and-swap) and the call returns once
//   this replica applied the write, or fails with kUnavailable, nothing changed.
//
// DNS policy, the same for REST, gRPC and penctl: a backend address may be an
// IP literal or a host name. A name is resolved once, when the call is made
// (getaddrinfo, first address), exactly as names in the configuration are
// resolved once at start; the backend keeps that address and shows the name
// as `host`. The lookup runs on the calling front end's worker thread (the
// HTTP worker pool, a gRPC thread, the control port's command thread), never
// on an event loop, so a slow DNS server delays that one call only.
//
// Thread contract: every method may be called from any thread, concurrently.
// Mutations block for the durable write (group-committed: concurrent changes
// share one fsync).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/core/shared_registry.h"
#include "dataplane/base/clock.h"
#include "dataplane/base/log.h"
#include "dataplane/base/status.h"
#include "dataplane/config/limits.h"
#include "dataplane/dataplane.h"
#include "nib/admin/v1/admin.pb.h"

namespace nib::admin {

class StateWriter;

// A page of the client table.
struct ClientPage {
  std::string service;
  std::vector<AffinityEntry> clients;
  std::vector<ClientPin> pins;  // every pin of the service, to mark pinned clients
  uint64_t offset = 0;
  uint32_t limit = 0;
  std::optional<uint32_t> backend_id;
  std::optional<uint64_t> next_offset;  // set when another page follows
  MonoTime now{};                       // the clients' ages are relative to this
};

struct MigrateResult {
  uint32_t from = 0;
  std::optional<uint32_t> to;
  uint64_t moved = 0;
};

// A request field's allowed values, for the front ends that must reject a
// value before it reaches a request message (a JSON -1 for a uint32 field):
// they word the error as the core does.
struct FieldRule {
  std::string_view field;
  std::optional<IntRange> integer;
  std::optional<SecondsRange> seconds;
};
// The rule for `field` (proto field name), or nullptr.
const FieldRule* field_rule(std::string_view field);
// `field "weight": expected an integer 0-10000, got ` + got.
Status field_error(std::string_view field, std::string_view expected, std::string_view got);

// BalanceMode <-> nib.admin.v1.BalanceMode.
v1::BalanceMode to_proto(BalanceMode mode);
Result<BalanceMode> balance_mode_from_proto(int mode);
// A backend's PROXY setting (nullopt: the service's) <-> nib.admin.v1.ProxyProtocol.
v1::ProxyProtocol to_proto(std::optional<ProxyProtocol> version);
Result<std::optional<ProxyProtocol>> proxy_protocol_from_proto(int version);

// A TLS service's settings and the certificate they loaded.
struct TlsStatus {
  std::string service;
  TlsConfig settings;
  int64_t not_after_unix = 0;  // when the certificate in use expires
};

// Makes a terminator from a TLS service's settings: the server's OpenSSL side
// (admin links no TLS library). Reads the files; an error names the file.
using TlsLoader = std::function<Result<std::shared_ptr<const TlsTerminator>>(const TlsConfig&)>;

class AdminApi {
 public:
  // `state` (may be null: changes are not saved) must outlive the core, or be
  // replaced first with set_state_writer().
  explicit AdminApi(Dataplane& dataplane, StateWriter* state = nullptr);
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  Dataplane& dataplane() { return dataplane_; }
  // Any thread. Where changes are kept from now on (null: nowhere).
  void set_state_writer(StateWriter* state) { state_.store(state); }
  // Main thread, before the front ends start. How TLS settings changed here
  // are loaded; without one, set_tls and reload_tls are kFailedPrecondition.
  void set_tls_loader(TlsLoader loader) { tls_loader_ = std::move(loader); }
  // Main thread, before the front ends start: with a shared registry
  // (replicas on etcd), changes to backends, pins, policies and client ACLs
  // are written there and answered once applied here; without one (null),
  // applied here and saved by the state writer. It must outlive the core.
  void set_shared_registry(SharedRegistry* registry) { registry_.store(registry); }
  // Any thread. OK unless saving changes fails (readiness).
  Status state_health() const;
  // Any thread. OK without a shared registry or while it is reachable.
  Status registry_health() const;
  // Any thread. nullopt without a shared registry.
  std::optional<RegistryStatus> registry_status() const;

  // The service a request means: its name, or the only one when empty.
  // kInvalidArgument when empty and nib runs several, kNotFound when unknown.
  Result<std::string> resolve_service(const std::string& requested) const;

  // ---- Reads.
  std::vector<ServiceStatus> list_services(const v1::ListServicesRequest& r) const;
  Result<ServiceStatus> get_stats(const v1::GetStatsRequest& r) const;
  // Every backend with remembered_clients counted.
  Result<ServiceStatus> list_backends(const v1::ListBackendsRequest& r) const;
  Result<BackendStatus> get_backend(const v1::GetBackendRequest& r) const;
  Result<ClientPage> list_clients(const v1::ListClientsRequest& r) const;
  Result<std::vector<ClientPin>> list_pins(const v1::ListPinsRequest& r) const;
  Result<PolicyConfig> get_policy(const v1::GetPolicyRequest& r) const;

  // ---- Changes: validated, applied, kept, then answered.
  Result<BackendStatus> add_backend(const v1::AddBackendRequest& r);
  Result<BackendStatus> update_backend(const v1::UpdateBackendRequest& r);
  Status remove_backend(const v1::RemoveBackendRequest& r);
  Result<BackendStatus> drain_backend(const v1::DrainBackendRequest& r);
  Status forget_client(const v1::ForgetClientRequest& r);
  Result<ClientPin> pin_client(const v1::PinClientRequest& r);
  Status unpin_client(const v1::UnpinClientRequest& r);
  Result<MigrateResult> migrate_clients(const v1::MigrateClientsRequest& r);
  // Only the fields set change, under the service's admin lock.
  Result<PolicyConfig> set_policy(const v1::SetPolicyRequest& r);

  // The service's client ACL (empty: everyone is served).
  Result<AccessList> get_client_acl(const v1::GetClientAclRequest& r) const;
  // Replaces it: every entry parsed first (a bad one names its index and
  // changes nothing), then set, announced and saved.
  Result<AccessList> set_client_acl(const v1::SetClientAclRequest& r);

  // A TLS service's settings (kFailedPrecondition without TLS). A change
  // reads and checks the files before anything changes (kInvalidArgument
  // naming the file; the running settings stay), under the service's admin
  // lock, then is saved. reload_tls reads the files in force again.
  Result<TlsStatus> get_tls(const v1::GetTlsRequest& r) const;
  Result<TlsStatus> set_tls(const v1::SetTlsRequest& r);
  Result<TlsStatus> reload_tls(const v1::ReloadTlsRequest& r);

  // Where the runtime state is kept: "etcd" (with the link's state),
  // "state_file" or "none".
  RegistryStatus get_registry(const v1::GetRegistryRequest& r) const;

  // ---- Pen's control port only (no gRPC or REST call of their own yet).
  // A policy edit under the service's admin lock (Pen's mode flags combine
  // with the current mode), validated, applied and kept.
  Result<PolicyConfig> edit_policy(const std::string& service, const Dataplane::PolicyEdit& edit);
  // Pen's "server N blacklist T": not an operator state, not saved.
  Status blacklist_backend(const std::string& service, uint32_t id, double seconds);
  // Pen's "close N": closes open TCP connection `id` (as the pages and
  // penctl's "connection N" number it), logged; kNotFound when none is open.
  Status close_connection(uint64_t id);
  // The client ACL from Pen's lists (the control port keeps them); announced and saved.
  Status set_client_acl(const std::string& service, const AccessList& acl);
  // Pen's `server N acl A` (Dataplane::set_server_acl); not saved.
  Status set_server_acl(const std::string& service, uint32_t id, const AccessList& acl);
  // Pen's tarpit_acl (direct server return only); not saved.
  Status set_tarpit_acl(const std::string& service, const AccessList& acl);
  // Pen's `listen [addr:]port` (Dataplane::set_listen); not saved.
  Status set_listen(const std::string& service, const SocketAddress& address);
  // The process's log level (Pen's -d, penctl debug N); any thread. Not
  // saved: a restart takes it from the command line again. kTrace..kInfo
  // only (warn and error are always logged).
  static LogLevel log_level();
  Status set_log_level(LogLevel level);
  // Pen's `log FILE` / `no log` (nullopt): the access log's file; not saved.
  Status set_access_log_file(const std::optional<std::string>& path);

 private:
  // update_backend's address or port: the new address, resolved, into `patch`.
  Status new_address(const std::string& service, const v1::UpdateBackendRequest& r, BackendPatch& patch);
  // The shared registry names a backend by its address: `id`'s here, and back.
  Result<SocketAddress> address_of(const std::string& service, uint32_t id) const;
  Result<BackendStatus> backend_at(const std::string& service, const SocketAddress& address) const;
  // After a successful change: blocks until it is on disk (with a writer).
  Status commit();
  // `r` has a `service`: resolved, or the error.
  template <typename Request>
  Result<std::string> service_of(const Request& r) const {
    return resolve_service(r.service());
  }

  // The settings and certificate in force for `service`.
  Result<TlsStatus> tls_status(const std::string& service) const;
  // Loads `settings` (edited by `edit` first) as the service's new TLS, saved.
  Result<TlsStatus> change_tls(const std::string& service, const std::function<Status(TlsConfig&)>& edit);

  Dataplane& dataplane_;
  std::atomic<StateWriter*> state_;
  std::atomic<SharedRegistry*> registry_{nullptr};
  TlsLoader tls_loader_;  // set before the front ends start, then read-only
};

}  // namespace nib::admin
