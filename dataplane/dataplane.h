#pragma once
// The facade the server and the admin plane use: owns the services and the
// worker threads. Nothing outside dataplane/ sees workers, connections or the
// registry's internals; reads go through the status views below.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/notify/event_bus.h"
#include "dataplane/status_views.h"

namespace nib {

class AccessLog;
class DsrEngine;
class FdBudget;
class HealthChecker;
class IdlerPool;
class Service;
class TcpEngine;
class SockmapRelay;
class UdpEngine;

class Dataplane {
 public:
  // Every decision on time (timers, health checks, blacklists, slow start,
  // drain deadlines, idle and session timeouts, client expiry) reads `clock`;
  // tests pass a manual one. wait_idle() alone waits in real time.
  explicit Dataplane(DataplaneConfig config, Clock& clock = SystemClock::instance());
  ~Dataplane();
  Dataplane(const Dataplane&) = delete;
  Dataplane& operator=(const Dataplane&) = delete;

  // Binds every listener (errors come back here, before any thread starts) and
  // starts the workers. Call once. A port another process holds is an error
  // (kAlreadyExists, naming the port and the service) unless the service says
  // reuse_port. The same as open() then start_workers().
  Status start();
  // start() in two steps, for a process that changes its user in between
  // (-u): open() binds and opens everything and starts the threads that make
  // no socket of their own (DSR, access log, health checks); clients wait in
  // the listeners' queues until start_workers() starts the TCP and UDP
  // workers. A thread is created with its creator's credentials and
  // capabilities: the workers hold what the calling thread holds then, and
  // they are the threads that make transparent sockets (CAP_NET_ADMIN).
  // Both once, on the same thread; start_workers() only after open() succeeded.
  Status open();
  void start_workers();

  // Any thread. Graceful stop: close the listeners; open connections go on.
  void stop_accepting();
  // Any thread. True once no connection is open, false after `timeout` (real
  // time: this waits, it decides nothing).
  bool wait_idle(Duration timeout);
  // Any thread. Closes everything and joins the workers.
  void stop();

  // Any thread. Applies changed backends and policy to the running services
  // without touching established connections. The set of services, their
  // listen addresses and protocols, what is set on their listening sockets
  // (backlog, defer_accept, reuse_port) and the number of workers must not
  // change (that needs a restart); otherwise nothing is applied and the error
  // says why.
  Status reload(const DataplaneConfig& config);

  // ---- Runtime management (the admin plane's narrow interface). Any thread.
  // Errors: kNotFound for an unknown service or backend id, kInvalidArgument
  // for bad values, kAlreadyExists for a duplicate backend address; a failed
  // call changes nothing. Every change is announced on events().

  std::vector<std::string> service_names() const;
  Result<ServiceStatus> service(const std::string& service) const;
  // service() with every backend's remembered_clients counted, in one pass
  // over the client table (one shard lock at a time, never all at once):
  // what backend listings show. O(table size).
  Result<ServiceStatus> service_with_clients(const std::string& service) const;
  // A new backend (fresh stable id), appended after the existing ones.
  Result<BackendStatus> add_backend(const std::string& service, const BackendConfig& config);
  Result<BackendStatus> update_backend(const std::string& service, uint32_t id, const BackendPatch& patch);
  // Open connections to it finish; its remembered clients choose afresh.
  Status remove_backend(const std::string& service, uint32_t id);
  // No new clients; open connections finish; remembered clients move on their
  // next connect. kDrainFinished is published when its last connection closes.
  // Connections still open after `timeout_seconds` (unset: the service's
  // drain_timeout; 0: never) are closed, each on its own worker. Draining a
  // draining backend again with a timeout sets a new deadline for that drain.
  Result<BackendStatus> drain_backend(const std::string& service, uint32_t id,
                                      std::optional<double> timeout_seconds = std::nullopt);
  // Pen's "server N blacklist T": no new clients for `seconds` (0 clears it),
  // as after a failed connect. Not an operator state: not announced, not saved.
  Status blacklist_backend(const std::string& service, uint32_t id, double seconds);
  // One backend, with remembered_clients counted (O(table size)).
  Result<BackendStatus> backend(const std::string& service, uint32_t id) const;

  // The client table, paged, optionally only the clients of one backend.
  Result<std::vector<AffinityEntry>> list_clients(const std::string& service, uint64_t offset, uint64_t limit,
                                                  std::optional<uint32_t> backend_id = std::nullopt) const;
  Status forget_client(const std::string& service, const IpKey& client);
  // Pins every client in `prefix` (an IP or CIDR) to a backend until unpinned;
  // a pin outlives eviction and tracking expiry. A pinned client whose backend
  // is unusable is treated like a client whose remembered server is down.
  Status pin_clients(const std::string& service, const IpPrefix& prefix, uint32_t backend_id);
  Status unpin_clients(const std::string& service, const IpPrefix& prefix);
  Result<std::vector<ClientPin>> pins(const std::string& service) const;
  // Moves every remembered client of `from` to `to`, or (no `to`) forgets them
  // so they choose afresh. Returns how many moved.
  Result<uint64_t> migrate_clients(const std::string& service, uint32_t from, std::optional<uint32_t> to);

  Result<PolicyConfig> policy(const std::string& service) const;
  // Mode, stubborn, tracking, blacklist and table size (a smaller table keeps
  // the most recently used clients); the connect timeout for connections
  // accepted from now on; the idle timeout for open connections too (counted
  // from each one's last activity); max connections at once (a listener
  // paused at the old limit is woken).
  Status set_policy(const std::string& service, const PolicyConfig& policy);
  // A partial change: `edit` runs on the current policy under the service's
  // admin lock (so concurrent edits never lose one another's fields), then
  // the result is validated and applied as set_policy() does. An error from
  // `edit` changes nothing. Returns the policy applied. `edit` must not call
  // back into the Dataplane.
  using PolicyEdit = std::function<Status(PolicyConfig&)>;
  Result<PolicyConfig> update_policy(const std::string& service, const PolicyEdit& edit);
  // Any thread: the client ACL in force (empty: everyone is served).
  Result<AccessList> client_acl(const std::string& service) const;
  // The clients the service serves from now on (open connections and UDP
  // sessions are left alone); an empty list serves everyone. It stays across
  // a reload unless the file's list changed. Announced (kAclChanged).
  // A list with country entries needs the country lookup (DataplaneConfig::
  // countries), prepared first: without one it is refused.
  Status set_client_acl(const std::string& service, const AccessList& acl);
  // The terminator `service`'s new clients get now (null: no TLS, or no such service).
  std::shared_ptr<const TlsTerminator> tls_terminator(const std::string& service) const;
  // Any thread. The settings a TLS service's terminator was made from;
  // kFailedPrecondition for a service without TLS.
  Result<TlsConfig> tls_settings(const std::string& service) const;
  // A change to a TLS service's settings (the admin API, the certificate
  // watcher): `edit` gets the settings in force under the service's admin
  // lock, so two changes never install one another's stale files; it changes
  // them and makes their terminator (reading files: never on a worker).
  // Clients accepted from then on get both; open connections keep their
  // sessions. A null terminator changes nothing; an error changes nothing.
  // Returns the settings in force after. `edit` must not call back into the
  // Dataplane.
  using TlsEdit = std::function<Result<std::shared_ptr<const TlsTerminator>>(TlsConfig&)>;
  Result<TlsConfig> update_tls(const std::string& service, const TlsEdit& edit);
  // The same for backend_tls's files: connections made from now on use
  // `connector`. kInvalidArgument for a service without backend_tls.
  Status set_tls_connector(const std::string& service, std::shared_ptr<const TlsConnector> connector);
  std::shared_ptr<const TlsConnector> tls_connector(const std::string& service) const;
  // Any thread. Pen's `server N acl A`: backend `id` takes only the clients
  // `acl` permits (empty: everyone), in every rule (new, returning,
  // failover); kept across a reload while the backend stays; not saved.
  Status set_server_acl(const std::string& service, uint32_t id, const AccessList& acl);
  // Any thread. Pen's tarpit_acl for a direct-server-return service (empty:
  // none); kInvalidArgument for any other service. Not saved; stays across a
  // reload unless the file's list changed.
  Status set_tarpit_acl(const std::string& service, const AccessList& acl);
  // Any thread: whether set_tarpit_acl would accept the service (its error, if not).
  Status check_tarpit_acl(const std::string& service) const;
  // Any thread. Pen's `listen [addr:]port`: a TCP service listens on
  // `address` from now on; its open connections go on (TcpEngine::rebind).
  // A port another process holds is an error unless the service has
  // reuse_port, as at start; UDP and direct-server-return services are
  // kInvalidArgument (a restart moves them), and so are Unix socket path
  // services. Not saved: a reload compares the file's listen address with
  // the new one.
  Status set_listen(const std::string& service, const SocketAddress& address);
  // Any thread: the lookup for country entries, or null. For lists kept
  // outside the dataplane (Pen's control ACL), which call prepare_acl() first.
  const CountryLookup* countries() const { return config_.countries.get(); }
  // Admin and main threads: ready to answer `acl`'s country entries, or why not.
  Status prepare_acl(const AccessList& acl) const;

  EventBus& events() { return events_; }

  // Any thread. Read views.
  std::vector<ServiceStatus> status() const;
  std::vector<AffinityEntry> clients(const std::string& service, uint64_t limit = UINT64_MAX) const;
  std::vector<ConnectionInfo> connections() const;
  // Any thread. Open TCP connection `id` (ConnectionInfo::id), or nullopt.
  std::optional<ConnectionInfo> connection(uint64_t id) const;
  // Any thread. Closes open TCP connection `id` (ConnectionInfo::id) as its
  // worker would at a deadline; kNotFound when none is open under it.
  [[nodiscard]] Status close_connection(uint64_t id);
  // Any thread. The address `service` listens on (port 0 resolved); for a
  // Unix socket path service an unset SocketAddress (ServiceStatus::listen_path
  // names the path); nullopt for an unknown service.
  std::optional<SocketAddress> bound_address(const std::string& service) const;
  int64_t open_connections() const;
  unsigned workers() const { return workers_count_; }
  // After open(): what the TCP workers wait with (io_uring asked for falls
  // back to epoll where the kernel refuses it).
  LoopBackend event_loop() const;
  uint64_t fd_limit() const { return fd_limit_; }
  // The descriptor budget, relay buffers and shortages (after start()).
  ResourceStatus resources() const;
  // The access log's destination and counters (zeros when there is none).
  AccessLogStatus access_log() const;
  // Any thread. Reopens the access log's file (after logrotate renamed it);
  // returns at once, the writer thread reopens between two batches. False
  // when there is no access log file.
  bool reopen_access_log();
  // Any thread (penctl's `log FILE` / `no log`). A path: lines go to that
  // file from now on (an access log that was off starts, in Pen's format);
  // nullopt: no more lines (what the rings hold is still written). A path
  // that cannot be opened, or a UDP log, is an error and changes nothing.
  // Not kept across a restart.
  Status set_access_log_file(const std::optional<std::string>& path);

 private:
  // The configuration service `name` runs with (config_), or null.
  const ServiceConfig* configured(const std::string& name) const;
  ServiceConfig* configured(const std::string& name);
  // The direct-server-return engine serving `service`, or null.
  DsrEngine* dsr_of(const Service& service) const;
  Status check_reload(const DataplaneConfig& config) const;
  ServiceStatus service_status(const Service& s) const;
  // Hands the health checker the backends that have a check (from config_ and
  // the registries), starting it on first need. After any change to either.
  void refresh_health();
  // Hands the idler pool the TCP services that want idlers (policy.idlers),
  // starting it on first need; it re-reads their backends then. After a
  // policy or backend change.
  void refresh_idlers();
  // The access log's rings: one per TCP worker, then one per UDP worker
  // (each ring has a single producer).
  unsigned access_log_rings() const { return 2 * workers_count_; }
  // Hands every worker its ring of `log` (null: no more lines).
  void attach_access_log(AccessLog* log);
  // Closes the stragglers of `b`'s current drain after `timeout`.
  void schedule_drain_deadline(const std::shared_ptr<Backend>& b, Duration timeout);

  Clock& clock_;
  DataplaneConfig config_;
  unsigned workers_count_;
  uint64_t fd_limit_ = 0;
  uint64_t relay_memory_ = 0;
  // Declared before everything that takes from it: destroyed after them.
  std::unique_ptr<FdBudget> budget_;
  std::vector<std::unique_ptr<Service>> services_;
  // After the services (its records name them), before the engines (their
  // workers fill its rings): stopped after the workers, so their last
  // connections are written.
  std::unique_ptr<AccessLog> access_log_;
  mutable std::mutex access_log_mu_;  // access_log_ and access_log_on_ after start()
  bool access_log_on_ = false;        // the workers have its rings (no `no log`)
  // relay: sockmap's maps when they could be loaded (null: user space
  // relays everything); before tcp_, whose workers use it.
  std::unique_ptr<SockmapRelay> kernel_relay_;
  // TCP and UDP services; declared after services_, which they point at.
  std::unique_ptr<TcpEngine> tcp_;
  std::unique_ptr<UdpEngine> udp_;  // (-U)
  std::vector<std::unique_ptr<DsrEngine>> dsr_;  // one per direct server return service (dsr_if)
  bool started_ = false;
  EventBus events_;
  mutable std::mutex idlers_mu_;  // refresh_idlers() and idlers_
  // Before health_: stopped after it. Points at services_ (declared before).
  std::unique_ptr<IdlerPool> idlers_;
  mutable std::mutex health_mu_;  // refresh_health(), the config_ it reads and health_
  // Declared last: stopped first, while the services and the bus it reports to live.
  std::unique_ptr<HealthChecker> health_;
};

}  // namespace nib
