#pragma once
// A service's state shared by all workers: its registry, its client table, the
// round-robin cursor, the admission count and per-worker counters. Workers
// hold a pointer; the Dataplane owns it.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "dataplane/affinity/affinity_table.h"
#include "dataplane/base/latency_histogram.h"
#include "dataplane/base/per_worker.h"
#include "dataplane/config/service_config.h"
#include "dataplane/registry/backend_registry.h"

namespace nib {

struct ServiceCounters {
  uint64_t accepted = 0;
  // Times a worker stopped accepting because the service held max_connections
  // (-x): nobody is refused, the clients wait in the kernel's backlog as in Pen.
  uint64_t limit_waits = 0;
  // Times a worker stopped accepting because pending_max clients were still
  // connecting to backends; they waited in the backlog too.
  uint64_t pending_waits = 0;
  uint64_t rejected_no_backend = 0;       // no server (nor the emergency one) could take it
  uint64_t rejected_stubborn = 0;         // stubborn mode and the chosen server failed
  // The client ACL denied the client and it was closed: no abuse server
  // (-B), or the abuse server did not take it.
  uint64_t rejected_acl = 0;
  // Denied clients the abuse server took instead: TCP connections it
  // accepted, UDP sessions opened to it.
  uint64_t abuse = 0;
  uint64_t affinity_breaks = 0;           // a remembered server could not take its client
  uint64_t rejected_resources = 0;        // nib ran short (descriptors, memory, local ports)
  // Trusted clients (accept_proxy_from) closed for a missing, malformed or
  // late PROXY header.
  uint64_t proxy_protocol_errors = 0;
  // HTTP services (-H): clients closed for a malformed request.
  uint64_t http_header_errors = 0;
  // TLS services: handshakes finished, failed (a protocol error, a refused
  // client certificate, a client gone mid-way) and not finished within the
  // handshake timeout (each cost its connection, nothing else).
  uint64_t tls_handshakes = 0;
  uint64_t tls_handshake_failures = 0;
  uint64_t tls_handshake_timeouts = 0;
  // Accept to finished handshake, successful ones.
  LatencyHistogram tls_handshake_latency;
  // backend_tls: handshakes to backends finished and failed (the backend's
  // certificate did not verify, a protocol error, none within the connect
  // timeout; each failure also counts against the backend, like a refused
  // connect).
  uint64_t backend_tls_handshakes = 0;
  uint64_t backend_tls_handshake_failures = 0;
};

class Service {
 public:
  // `clock` goes to the registry (slow starts of the backends it makes).
  // `countries` answers the client ACL's country entries (null: none can match).
  Service(const ServiceConfig& config, unsigned workers, const Clock& clock = SystemClock::instance(),
          const CountryLookup* countries = nullptr);

  const std::string& name() const { return name_; }
  Protocol protocol() const { return protocol_; }
  // The configured listen address; the bound one (port 0 resolved) once bound.
  SocketAddress listen_address() const;
  void set_bound_address(const SocketAddress& a);
  // Any thread. The Unix socket path it listens on instead (set at start,
  // never changes); empty for an IP listener.
  const std::string& listen_path() const { return listen_path_; }
  int backlog() const { return backlog_; }
  bool defer_accept() const { return defer_accept_; }
  bool tcp_nodelay() const { return tcp_nodelay_; }
  FastClose tcp_fastclose() const { return tcp_fastclose_; }
  bool keepalive() const { return keepalive_; }
  // Pen's `source IP` for connections to `to`: null when unset or when `to`
  // is of the other family (its connections keep the kernel's choice).
  const SocketAddress* source_for(const SocketAddress& to) const {
    return source_ && source_->family() == to.family() ? &*source_ : nullptr;
  }
  const std::optional<SocketAddress>& source() const { return source_; }
  // Pen's -H: forwarding headers in every HTTP/1.x request (and RFC 7239's Forwarded).
  bool http() const { return http_; }
  bool dummy() const { return dummy_; }
  bool http_forwarded() const { return http_forwarded_; }
  // Pen's transparent mode: connections to the backends leave from the client's IP.
  bool transparent() const { return transparent_; }
  // Any thread (a worker's hot path: no allocation). Binds `fd`, a fresh
  // socket for a connection to `to`, where it must leave from: `client`'s IP
  // (transparent), else Pen's `source`, else nothing (the kernel chooses).
  // A client of the other family than `to` goes out as without transparent
  // mode. False with errno set.
  [[nodiscard]] bool bind_upstream(int fd, const SocketAddress& client, const SocketAddress& to) const;
  ProxyProtocol proxy_protocol() const { return proxy_protocol_; }
  // Must a client from `ip` open with a PROXY header (accept_proxy_from)?
  bool expects_proxy_header(const IpKey& ip) const;
  const std::vector<IpPrefix>& accept_proxy_from() const { return accept_proxy_from_; }

  // Any thread: does the client ACL in `snapshot` let `client` in?
  bool admits(const RegistrySnapshot& snapshot, const IpKey& client) const {
    return snapshot.client_acl == nullptr || snapshot.client_acl->permits(client, countries_);
  }

  // Pen's verdict on a TCP client, for the worker `worker` (any thread, its
  // own counters): let in; denied but relayed to the abuse server (-B), which
  // counts it once connected; or refused, counted here as rejected_acl.
  enum class Admission : uint8_t { kAdmit, kAbuse, kRefuse };
  Admission screen(const RegistrySnapshot& snapshot, const IpKey& client, unsigned worker) {
    if (admits(snapshot, client)) [[likely]] return Admission::kAdmit;
    if (snapshot.abuse) return Admission::kAbuse;
    count_rejected_acl(worker);
    return Admission::kRefuse;
  }

  BackendRegistry& registry() { return registry_; }
  const BackendRegistry& registry() const { return registry_; }
  AffinityTable& affinity() { return affinity_; }
  const AffinityTable& affinity() const { return affinity_; }
  std::atomic<uint32_t>& cursor() { return cursor_; }

  // Any thread. Backends and policy from a reloaded config (listen unchanged).
  // Remembered clients of backends that leave are forgotten. Returns what changed.
  RegistryDiff apply(const ServiceConfig& config);

  // Serialises the admin plane's multi-step changes to this service (validate,
  // change the registry, then the client table). Never taken by workers.
  std::mutex& admin_mutex() { return admin_mu_; }

  // Called with a backend whose drain just finished, on whichever thread saw it
  // finish (a worker closing the last connection, or the admin thread). Set
  // once, before workers start; it must only publish and log.
  using DrainFinishedHook = std::function<void(const Backend&)>;
  void set_drain_finished_hook(DrainFinishedHook hook) { drain_finished_ = std::move(hook); }
  // Worker thread, rare: a closing connection ended `backend`'s drain.
  void drain_finished(const Backend& backend) const {
    if (drain_finished_) drain_finished_(backend);
  }

  // Called when a client's failed connect took a checked backend down (see
  // Backend::passive_failure), on that worker's thread. Set once, before
  // workers start; it must only publish and log.
  using HealthChangedHook = std::function<void(const Backend&, const std::string& reason)>;
  void set_passive_down_hook(HealthChangedHook hook) { passive_down_ = std::move(hook); }
  void passive_down(const Backend& backend, const std::string& reason) const {
    if (passive_down_) passive_down_(backend, reason);
  }

  // Any thread. Admission against max_connections (0 = unlimited). seq_cst
  // (the same cost as relaxed on x86): a TCP listener paused at the limit
  // parks in the FdBudget, and a release followed by the budget's wake must
  // be seen by its re-check (see FdBudget).
  bool try_admit(uint32_t max_connections);
  void release() { active_.fetch_sub(1); }
  int64_t active() const { return active_.load(std::memory_order_relaxed); }
  // Any thread. The same for pending_max (0 = unlimited: then nothing is
  // counted and no shared line is written); seq_cst for the same reason.
  bool try_begin_pending(uint32_t pending_max);
  void end_pending() { pending_.fetch_sub(1); }
  int64_t pending() const { return pending_.load(std::memory_order_relaxed); }

  // Worker `worker` only (its own cells; see PerWorker). One per request
  // each: per-worker cells, so workers never write a shared cache line.
  void count_accepted(unsigned worker) { bump(cells_[worker].accepted); }
  void count_limit_wait(unsigned worker) { bump(cells_[worker].limit_waits); }
  void count_pending_wait(unsigned worker) { bump(cells_[worker].pending_waits); }
  void count_rejected_acl(unsigned worker) { bump(cells_[worker].rejected_acl); }
  void count_abuse(unsigned worker) { bump(cells_[worker].abuse); }
  void count_no_backend(unsigned worker) { bump(cells_[worker].no_backend); }
  void count_stubborn(unsigned worker) { bump(cells_[worker].stubborn); }
  void count_affinity_break(unsigned worker) { bump(cells_[worker].breaks); }
  void count_rejected_resources(unsigned worker) { bump(cells_[worker].rejected_resources); }
  void count_proxy_protocol_error(unsigned worker) { bump(cells_[worker].proxy_protocol_errors); }
  void count_http_header_error(unsigned worker) { bump(cells_[worker].http_header_errors); }
  void count_tls_handshake(unsigned worker, Duration took) {
    bump(cells_[worker].tls_handshakes);
    cells_[worker].tls_latency.record(took);
  }
  void count_tls_handshake_failure(unsigned worker) { bump(cells_[worker].tls_failures); }
  void count_tls_handshake_timeout(unsigned worker) { bump(cells_[worker].tls_timeouts); }
  void count_backend_tls_handshake(unsigned worker, bool ok) {
    bump(ok ? cells_[worker].backend_tls_handshakes : cells_[worker].backend_tls_failures);
  }
  ServiceCounters counters() const;  // any thread: the sum over the workers

  // Pen's idlers (IdlerPool): idle connections open now. Written by the
  // pool's thread, read by any.
  void set_idlers_open(uint32_t n) { idlers_open_.store(n, std::memory_order_relaxed); }
  uint32_t idlers_open() const { return idlers_open_.load(std::memory_order_relaxed); }

 private:
  const std::string name_;
  const Protocol protocol_;
  const CountryLookup* const countries_;
  const int backlog_;
  const bool defer_accept_;
  const bool tcp_nodelay_;
  const FastClose tcp_fastclose_;
  const bool keepalive_;
  const std::optional<SocketAddress> source_;
  const bool transparent_;
  const bool http_;
  const bool http_forwarded_;
  const bool dummy_;
  const ProxyProtocol proxy_protocol_;
  const std::vector<IpPrefix> accept_proxy_from_;
  const std::string listen_path_;
  mutable std::mutex address_mutex_;
  SocketAddress listen_;
  BackendRegistry registry_;
  AffinityTable affinity_;
  std::mutex admin_mu_;
  DrainFinishedHook drain_finished_;
  HealthChangedHook passive_down_;
  std::atomic<uint32_t> cursor_;
  std::atomic<int64_t> active_{0};  // shared by design: -x is one limit for all workers
  std::atomic<int64_t> pending_{0};  // so is pending_max; counted only while one is set
  std::atomic<uint32_t> idlers_open_{0};
  struct Cells {
    std::atomic<uint64_t> accepted{0}, limit_waits{0}, pending_waits{0}, no_backend{0}, stubborn{0}, breaks{0}, rejected_acl{0},
        rejected_resources{0}, abuse{0}, proxy_protocol_errors{0}, http_header_errors{0}, tls_handshakes{0},
        tls_failures{0}, tls_timeouts{0}, backend_tls_handshakes{0}, backend_tls_failures{0};
    LatencyCells tls_latency;
  };
  PerWorker<Cells> cells_;
};

}  // namespace nib
