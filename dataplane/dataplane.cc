#include "dataplane/dataplane.h"

#include <algorithm>
#include <utility>
#include <cmath>
#include <sstream>
#include <thread>

#include "dataplane/base/log.h"
#include "dataplane/dsr/dsr_engine.h"
#include "dataplane/health/health_checker.h"
#include "dataplane/kernel/sockmap_relay.h"
#include "dataplane/log/access_log.h"
#include "dataplane/net/socket_ops.h"
#include "dataplane/resource/fd_budget.h"
#include "dataplane/resource/memory_limit.h"
#include "dataplane/service/service.h"
#include "dataplane/tcp/idler_pool.h"
#include "dataplane/tcp/tcp_connection.h"
#include "dataplane/tcp/tcp_engine.h"
#include "dataplane/udp/udp_engine.h"

namespace nib {
namespace {

// Runtime management helpers, defined with the management section below.
void announce_drain_finished(EventBus& bus, const std::string& service, const Backend& b);
void announce_reload(EventBus& bus, const std::string& service, const RegistryDiff& diff);

// A health change: one log line and one kHealthChanged event.
void announce_health(EventBus& bus, const std::string& service, const Backend& b, bool up,
                     const std::string& reason) {
  std::string detail = std::string(up ? "down -> up: " : "up -> down: ") + reason;
  std::string line = "service " + service + ": backend " + std::to_string(b.id()) + " (" +
                     b.address().to_string() + ") " + detail;
  if (up) {
    log_info(line);
  } else {
    log_warn(line);
  }
  bus.publish(DataplaneEvent{.kind = DataplaneEvent::Kind::kHealthChanged, .service = service,
                             .backend_id = b.id(), .detail = detail});
}

// How long a silent direct-server-return flow is kept: UDP's session
// timeout, TCP's idle timeout, else 5 minutes (nib never sees the replies,
// so a TCP flow's end is seen only in the client's RST or FIN).
Duration dsr_flow_timeout(const ServiceConfig& sc) {
  if (sc.protocol == Protocol::kUdp) return seconds_to_duration(sc.udp_session_timeout_seconds);
  if (sc.policy.idle_timeout_seconds > 0) return seconds_to_duration(sc.policy.idle_timeout_seconds);
  return std::chrono::minutes(5);
}

unsigned pick_workers(int configured) {
  if (configured > 0) return static_cast<unsigned>(configured);
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// Why the backend is in its state, for people ("" when up and unchecked).
std::string state_reason(const BackendStatus& b) {
  switch (b.admin_state) {
    case AdminState::kDisabled: return "disabled by an operator";
    case AdminState::kDraining:
      return b.drain_finished ? "draining: finished, no connection left"
                              : "draining: " + std::to_string(b.active) + " connection(s) still open";
    case AdminState::kEnabled: break;
  }
  if (!b.health.up) return "health: " + b.health.reason + "; last check: " + b.health.last_check;
  if (b.blacklisted) {
    return "blacklisted after a failed connect; " +
           std::to_string(static_cast<int64_t>(std::ceil(b.blacklist_remaining_seconds))) + " s left";
  }
  return b.health.checked ? "health: last check: " + b.health.last_check : "";
}

BackendStatus backend_status(const Backend& b, int index, MonoTime now) {
  BackendStatus s;
  s.id = b.id();
  s.index = index;
  s.host = b.host();
  s.address = b.address();
  s.source = b.source();
  s.admin_state = b.admin_state();
  s.health = b.health();
  s.blacklisted = b.blacklisted(now);
  if (s.blacklisted) s.blacklist_remaining_seconds = std::chrono::duration<double>(b.blacklisted_until() - now).count();
  // The one state every view shows (API, metrics, pages, readiness): the
  // admin state wins, then health and Pen's blacklist, both "down".
  s.state = b.state();
  if (s.state == BackendState::kUp && s.blacklisted) s.state = BackendState::kDown;
  s.soft_limit = b.soft_limit();
  s.hard_limit = b.hard_limit();
  s.weight = b.weight();
  s.prio = b.prio();
  s.proxy_protocol = b.proxy_protocol();
  s.tcp_fast_open = b.tcp_fast_open();
  s.active = b.active();
  s.counters = b.counters();
  s.drain_finished = s.admin_state == AdminState::kDraining && s.active == 0;
  s.state_reason = state_reason(s);
  return s;
}

}  // namespace

Dataplane::Dataplane(DataplaneConfig config, Clock& clock)
    : clock_(clock), config_(std::move(config)), workers_count_(pick_workers(config_.workers)) {}

Dataplane::~Dataplane() { stop(); }

Status Dataplane::prepare_acl(const AccessList& acl) const {
  if (!acl.has_country_entries()) return {};
  if (config_.countries == nullptr) {
    return Status::invalid("the ACL has country entries, and nib has no country database to answer them");
  }
  return config_.countries->prepare();
}

Status Dataplane::start() {
  if (Status st = open(); !st.ok()) return st;
  start_workers();
  return {};
}

Status Dataplane::open() {
  for (const auto& sc : config_.services) {
    if (Status st = prepare_acl(sc.client_acl); !st.ok()) return Status::invalid("service '" + sc.name + "': " + st.message());
    if (Status st = check_tls_loaded(sc); !st.ok()) return st;
    if (sc.source) {
      if (Status st = check_source(*sc.source); !st.ok()) return Status::invalid("service '" + sc.name + "': " + st.message());
    }
    if (sc.transparent) {
      if (Status st = check_transparent(); !st.ok()) return Status::invalid("service '" + sc.name + "': " + st.message());
    }
  }
  fd_limit_ = raise_fd_limit();
  // The descriptor budget: estimated now for the defaults below, set once the
  // listeners are bound and the dataplane's own descriptors are known.
  budget_ = std::make_unique<FdBudget>(config_.fd_budget != 0 ? config_.fd_budget
                                                              : fd_budget_for(fd_limit_, count_open_fds()));
  relay_memory_ = config_.relay_memory_bytes != 0 ? config_.relay_memory_bytes
                                                   : relay_memory_budget(memory_limit_bytes());
  // Each relayed connection holds two descriptors.
  const uint64_t fd_connections = std::max<uint64_t>(1, budget_->capacity() / TcpConnection::kDescriptors);
  tcp_ = std::make_unique<TcpEngine>(workers_count_, static_cast<size_t>(std::max(0, config_.splice_pipes_per_worker)),
                                     *budget_, relay_memory_, clock_, config_.event_loop);
  if (config_.relay == RelayMode::kSockmap && !kernel_relay_) {
    // Not permitted (no CAP_BPF / CAP_NET_ADMIN, a locked-down kernel) or
    // not there: nib relays in user space, as by default, and says so once.
    std::string why;
    kernel_relay_ = SockmapRelay::open(&why);
    if (!kernel_relay_) log_warn("relay: sockmap is not available (" + why + "); relaying in user space (splice)");
  }
  tcp_->set_kernel_relay(kernel_relay_.get());
  // ---- UDP (-U): UdpEngine binds and relays these; a session holds one descriptor.
  udp_ = std::make_unique<UdpEngine>(workers_count_, *budget_, clock_);
  const uint64_t fd_sessions = budget_->capacity();
  // ---- end UDP
  for (auto& sc : config_.services) {
    if (!sc.dsr_interface.empty()) {  // frames, not sockets: no descriptors per client
      services_.push_back(std::make_unique<Service>(sc, workers_count_, clock_, config_.countries.get()));
      dsr_.push_back(std::make_unique<DsrEngine>(*services_.back(), sc.dsr_interface, dsr_flow_timeout(sc), sc.tarpit,
                                                 clock_));
      continue;
    }
    if (sc.protocol == Protocol::kUdp) {  // UDP
      services_.push_back(std::make_unique<Service>(sc, workers_count_, clock_, config_.countries.get()));
      udp_->add_service(*services_.back(), sc, fd_sessions);
      continue;
    }
    // 0 stays 0: the descriptor budget is then the limit, shared by all services.
    if (sc.policy.max_connections > fd_connections) {
      log_warn("service " + sc.name + ": max connections " + std::to_string(sc.policy.max_connections) +
               " exceeds what " + std::to_string(fd_limit_) + " file descriptors allow (about " +
               std::to_string(fd_connections) + "); raise the hard RLIMIT_NOFILE");
    }
    services_.push_back(std::make_unique<Service>(sc, workers_count_, clock_, config_.countries.get()));
    tcp_->add_service(*services_.back());
  }
  // Management: drains that finish on a worker are announced (set before any worker runs).
  for (auto& s : services_) {
    s->set_drain_finished_hook([this, name = s->name()](const Backend& b) { announce_drain_finished(events_, name, b); });
    s->set_passive_down_hook([this, name = s->name()](const Backend& b, const std::string& reason) {
      announce_health(events_, name, b, /*up=*/false, reason);
    });
  }
  // Another process on a port would silently take part of its traffic
  // through SO_REUSEPORT: an error unless the service asks for it.
  for (const auto& sc : config_.services) {
    if (sc.reuse_port || sc.listen.port() == 0 || !sc.dsr_interface.empty() || !sc.listen_path.empty()) continue;
    if (Status st = check_port_free(sc.listen, sc.protocol == Protocol::kTcp); !st.ok()) {
      std::string hint = st.code() == StatusCode::kAlreadyExists
                             ? "; to share it on purpose, set reuse_port: true on the service (--reuse-port)"
                             : "";
      return Status(st.code(), "service '" + sc.name + "': " + st.message() + hint);
    }
  }
  if (config_.access_log.enabled()) {
    // Opened before binding: a bad path stops the start.
    auto log = AccessLog::open(config_.access_log, access_log_rings());
    if (!log.ok()) return log.status();
    access_log_ = std::move(*log);
    attach_access_log(access_log_.get());
  }
  if (Status st = tcp_->bind(); !st.ok()) return st;
  if (config_.fd_budget == 0) budget_->set_capacity(fd_budget_for(fd_limit_, count_open_fds()));
  log_info("resources: " + std::to_string(fd_limit_) + " file descriptors (RLIMIT_NOFILE), " +
           std::to_string(budget_->capacity()) + " of them for clients' connections, pipes and sessions; " +
           std::to_string(relay_memory_ >> 20) + " MiB for relay buffers");
  if (Status st = udp_->bind(); !st.ok()) return st;  // UDP
  for (auto& d : dsr_) {
    if (Status st = d->start(); !st.ok()) return Status(st.code(), "service '" + d->service().name() + "': " + st.message());
  }
  if (access_log_) {
    access_log_on_ = true;
    access_log_->start();
    log_info("access log: " + access_log_->destination() + " (" + to_string(config_.access_log.format) + ")");
  }
  started_ = true;
  refresh_health();
  refresh_idlers();
  return {};
}

void Dataplane::start_workers() {
  udp_->start();  // UDP
  tcp_->start();
}

void Dataplane::refresh_idlers() {
  // Held until the targets are posted, as refresh_health().
  std::lock_guard lock(idlers_mu_);
  if (!started_) return;
  std::vector<IdlerPool::Target> targets;
  for (const auto& s : services_) {
    if (s->protocol() != Protocol::kTcp || dsr_of(*s) != nullptr) continue;
    if (uint32_t wanted = s->registry().snapshot()->policy.idlers; wanted > 0) targets.push_back({s.get(), wanted});
  }
  if (!idlers_) {
    if (targets.empty()) return;  // nobody wants idlers: no thread either
    idlers_ = std::make_unique<IdlerPool>(budget_.get(), clock_);
    if (Status st = idlers_->start(); !st.ok()) {
      log_error("idlers disabled: " + st.message());
      idlers_.reset();
      return;
    }
  }
  idlers_->set_targets(std::move(targets));
}

void Dataplane::refresh_health() {
  // Held until the targets are posted, so concurrent refreshes reach the
  // checker in the order they read the registries.
  std::lock_guard lock(health_mu_);
  if (!started_) return;
  std::vector<HealthChecker::Target> targets;
  for (const auto& s : services_) {
    const ServiceConfig* sc = configured(s->name());
    if (sc == nullptr) continue;
    auto snap = s->registry().snapshot();
    auto add = [&](const std::shared_ptr<Backend>& b) {
      // Its own (a YAML backend's, kept when it moves to a new address), else the service's.
      std::optional<HealthCheckConfig> check = b->health_check();
      if (!check) check = sc->health_check;
      if (!check) return;
      // Probes leave from the service's source (Pen's `source IP`) unless
      // the check names its own: a backend that admits one address admits them.
      if (!check->source && s->source_for(b->address()) != nullptr) check->source = s->source();
      targets.push_back({s->name(), b, *check, s->proxy_protocol()});  // the backend's own wins at each check
    };
    for (const auto& b : snap->backends) add(b);
    if (snap->emergency) add(snap->emergency);
  }
  if (!health_) {
    if (targets.empty()) return;  // no checks anywhere: no thread either
    health_ = std::make_unique<HealthChecker>(
        [this](const std::string& service, const Backend& b, bool up, const std::string& reason) {
          announce_health(events_, service, b, up, reason);
        },
        clock_);
    if (Status st = health_->start(); !st.ok()) {
      log_error("health checks disabled: " + st.message());
      health_.reset();
      return;
    }
  }
  health_->set_targets(std::move(targets));
}

void Dataplane::stop_accepting() {
  if (tcp_) tcp_->stop_accepting();
  if (udp_) udp_->shut_down();  // UDP: sessions are not connections; nothing waits for them
}

bool Dataplane::wait_idle(Duration timeout) {
  auto deadline = MonoClock::now() + timeout;
  while (open_connections() > 0) {
    if (MonoClock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // shutdown path only
  }
  return true;
}

void Dataplane::stop() {
  {
    std::lock_guard lock(idlers_mu_);
    if (idlers_) idlers_->stop();
  }
  if (health_) health_->stop();
  // UDP before the TCP workers go: its closing sessions give descriptors
  // back to the budget, which may call the TCP workers' wakers.
  if (udp_) udp_->stop();  // UDP
  if (tcp_) tcp_->stop();
  for (auto& d : dsr_) d->stop();
  std::lock_guard lock(access_log_mu_);
  if (access_log_) access_log_->stop();  // after the workers: their last lines are in the rings
}

void Dataplane::attach_access_log(AccessLog* log) {
  tcp_->set_access_log(log);
  udp_->set_access_log(log, workers_count_);
}

AccessLogStatus Dataplane::access_log() const {
  std::lock_guard lock(access_log_mu_);
  AccessLogStatus s;
  if (!access_log_) return s;
  s.enabled = access_log_on_;
  s.destination = access_log_->destination();
  s.lines = access_log_->lines_written();
  s.dropped = access_log_->lines_dropped();
  return s;
}

bool Dataplane::reopen_access_log() {
  std::lock_guard lock(access_log_mu_);
  if (!access_log_ || !access_log_->to_file()) return false;
  access_log_->reopen();
  return true;
}

Status Dataplane::set_access_log_file(const std::optional<std::string>& path) {
  std::lock_guard lock(access_log_mu_);
  if (!started_ || !tcp_) return Status::unavailable("the dataplane is not running");
  if (!path) {
    attach_access_log(nullptr);  // the writer goes on: what the rings hold is written
    access_log_on_ = false;
    return {};
  }
  if (path->empty()) return Status::invalid("log: expected a file name");
  if (access_log_) {
    if (Status st = access_log_->retarget(*path); !st.ok()) return st;
  } else {
    AccessLogConfig config;
    config.path = *path;
    auto log = AccessLog::open(config, access_log_rings());
    if (!log.ok()) return log.status();
    access_log_ = std::move(*log);
    access_log_->start();
  }
  attach_access_log(access_log_.get());
  access_log_on_ = true;
  log_info("access log: " + *path + " (penctl)");
  return {};
}

ResourceStatus Dataplane::resources() const {
  ResourceStatus r;
  r.fd_limit = fd_limit_;
  if (!budget_) return r;
  r.fd_budget = budget_->capacity();
  r.fd_in_use = budget_->in_use();
  r.relay_memory_limit = relay_memory_;
  r.relay_kernel_active = kernel_relay_ != nullptr;
  if (tcp_) tcp_->add_resources(r);
  if (udp_) udp_->add_shortages(r.exhausted);
  std::lock_guard lock(health_mu_);  // refresh_health() makes health_
  if (health_) health_->add_shortages(r.exhausted);
  std::lock_guard idlers_lock(idlers_mu_);
  if (idlers_) idlers_->add_shortages(r.exhausted);
  return r;
}

LoopBackend Dataplane::event_loop() const { return tcp_ ? tcp_->event_loop() : config_.event_loop; }

int64_t Dataplane::open_connections() const {
  return tcp_ ? tcp_->open_connections() : 0;
}

namespace {

// What a service's sockets, threads and relays are made with at start, so a
// reload cannot change it (each named as the error says it).
struct StartTimeSetting {
  const char* name;
  bool (*changed)(const ServiceConfig& old, const ServiceConfig& now);
};
template <auto Field>
bool differs(const ServiceConfig& o, const ServiceConfig& n) {
  return !(o.*Field == n.*Field);
}
constexpr StartTimeSetting kStartTimeSettings[] = {
    {"protocol", &differs<&ServiceConfig::protocol>},
    {"listen address", &differs<&ServiceConfig::listen>},
    {"listen address", &differs<&ServiceConfig::listen_path>},
    {"defer_accept", &differs<&ServiceConfig::defer_accept>},
    {"tcp_nodelay", &differs<&ServiceConfig::tcp_nodelay>},
    {"tcp_fastclose", &differs<&ServiceConfig::tcp_fastclose>},
    {"keepalive", &differs<&ServiceConfig::keepalive>},
    {"source", &differs<&ServiceConfig::source>},
    {"http", &differs<&ServiceConfig::http>},
    {"http", &differs<&ServiceConfig::http_forwarded>},
    {"dummy", &differs<&ServiceConfig::dummy>},
    {"transparent", &differs<&ServiceConfig::transparent>},
    {"dsr_interface", &differs<&ServiceConfig::dsr_interface>},
    {"proxy_protocol", &differs<&ServiceConfig::proxy_protocol>},
    {"accept_proxy_protocol", &differs<&ServiceConfig::accept_proxy_from>},
    {"reuse_port", &differs<&ServiceConfig::reuse_port>},
    // A UDP service has no backlog.
    {"backlog", [](const ServiceConfig& o, const ServiceConfig& n) {
       return n.protocol == Protocol::kTcp && o.backlog != n.backlog;
     }},
};

}  // namespace

Status Dataplane::check_reload(const DataplaneConfig& config) const {
  if (Status st = validate(config); !st.ok()) return st;
  for (const auto& sc : config.services) {
    if (Status st = prepare_acl(sc.client_acl); !st.ok()) return Status::invalid("service '" + sc.name + "': " + st.message());
    if (Status st = check_tls_loaded(sc); !st.ok()) return st;
  }
  if (config.services.size() != services_.size()) {
    return Status::invalid("the set of services changed; adding or removing services needs a restart");
  }
  for (const auto& sc : config.services) {
    const Service* match = nullptr;
    for (const auto& s : services_) {
      if (s->name() == sc.name) match = s.get();
    }
    if (match == nullptr) return Status::invalid("service '" + sc.name + "' is new; adding services needs a restart");
    const ServiceConfig* old = configured(sc.name);
    for (const auto& setting : kStartTimeSettings) {
      if (setting.changed(*old, sc)) {
        return Status::invalid("service '" + sc.name + "': " + setting.name + " change needs a restart");
      }
    }
  }
  // Workers are threads with their own listeners, made at start.
  if (config.workers != config_.workers) {
    return Status::invalid("workers change (" + std::to_string(config_.workers) + " -> " +
                           std::to_string(config.workers) + ") needs a restart");
  }
  if (config.event_loop != config_.event_loop) {
    return Status::invalid("event_loop change (" + std::string(to_string(config_.event_loop)) + " -> " +
                           std::string(to_string(config.event_loop)) + ") needs a restart");
  }
  return {};
}

Status Dataplane::reload(const DataplaneConfig& config) {
  if (Status st = check_reload(config); !st.ok()) return st;
  for (const auto& sc : config.services) {
    for (auto& s : services_) {
      if (s->name() != sc.name) continue;
      std::lock_guard lock(s->admin_mutex());  // management: one change at a time per service
      // Lists set at runtime (API, control port) stay while the file says
      // what it said before; a list the file changed is the file's.
      const ServiceConfig& before = *configured(sc.name);
      ServiceConfig next = sc;  // applied in one snapshot: no moment under the file's list
      if (before.client_acl == sc.client_acl) next.client_acl = client_acl(sc.name).value_or(AccessList());
      announce_reload(events_, s->name(), s->apply(next));
      if (udp_) udp_->apply(sc);  // UDP: session timeout and limit
      if (DsrEngine* d = dsr_of(*s); d != nullptr && !(before.tarpit == sc.tarpit)) d->set_tarpit(sc.tarpit);
      // The policy's connection settings reach open connections and paused
      // listeners as a runtime change does (update_policy()).
      if (tcp_ && sc.protocol == Protocol::kTcp) {
        tcp_->set_idle_timeout(*s, seconds_to_duration(sc.policy.idle_timeout_seconds));
      }
      if (budget_) budget_->wake_parked();
    }
  }
  {
    std::lock_guard lock(health_mu_);  // refresh_health() reads config_
    for (auto& sc : config_.services) {
      for (const auto& nc : config.services) {
        if (nc.name == sc.name) {
          SocketAddress listen = sc.listen;
          sc = nc;
          sc.listen = listen;
        }
      }
    }
  }
  refresh_health();
  refresh_idlers();
  return {};
}

ServiceStatus Dataplane::service_status(const Service& s) const {
  MonoTime now = clock_.now();
  auto snap = s.registry().snapshot();
  ServiceStatus st;
  st.name = s.name();
  st.protocol = s.protocol();
  st.listen = s.listen_address();
  st.listen_path = s.listen_path();
  st.policy = snap->policy;
  st.tcp_nodelay = s.tcp_nodelay();
  st.tcp_fastclose = s.tcp_fastclose();
  st.keepalive = s.keepalive();
  st.source = s.source();
  st.transparent = s.transparent();
  st.http = s.http();
  st.dummy = s.dummy();
  st.http_forwarded = s.http_forwarded();
  st.proxy_protocol = s.proxy_protocol();
  st.accept_proxy_from = s.accept_proxy_from();
  st.connect_timeout_seconds = std::chrono::duration<double>(snap->connect_timeout).count();
  st.idle_timeout_seconds = std::chrono::duration<double>(snap->idle_timeout).count();
  // 0 (no -x): as many as the descriptor budget allows.
  st.max_connections = snap->max_connections != 0
                           ? snap->max_connections
                           : static_cast<uint32_t>(std::min<uint64_t>(
                                 budget_ ? budget_->capacity() / TcpConnection::kDescriptors : 0, UINT32_MAX));
  st.active = s.active();
  st.idlers_open = s.idlers_open();
  st.tls = snap->tls != nullptr;
  st.tls_not_after_unix = snap->tls ? snap->tls->not_after_unix() : 0;
  st.backend_tls = snap->backend_tls != nullptr;
  st.counters = s.counters();
  st.affinity = s.affinity().stats();
  if (udp_) udp_->fill_status(s, &st);  // UDP: sessions and datagram counters
  for (const auto& d : dsr_) {
    if (&d->service() != &s) continue;
    st.dsr_interface = d->interface();
    st.active = d->open_flows();
    st.dsr = d->counters();
  }
  for (size_t i = 0; i < snap->backends.size(); ++i) {
    st.backends.push_back(backend_status(*snap->backends[i], static_cast<int>(i), now));
  }
  if (snap->emergency) st.emergency = backend_status(*snap->emergency, -1, now);
  if (snap->abuse) st.abuse = backend_status(*snap->abuse, -1, now);
  return st;
}

std::vector<ServiceStatus> Dataplane::status() const {
  std::vector<ServiceStatus> out;
  for (const auto& s : services_) out.push_back(service_status(*s));
  return out;
}

std::vector<AffinityEntry> Dataplane::clients(const std::string& service, uint64_t limit) const {
  for (const auto& s : services_) {
    if (s->name() == service) return s->affinity().list(clock_.now(), 0, limit);
  }
  return {};
}

std::vector<ConnectionInfo> Dataplane::connections() const {
  std::vector<ConnectionInfo> out;
  if (tcp_) out = tcp_->connections(std::chrono::seconds(1));
  if (udp_) {  // UDP sessions
    auto sessions = udp_->sessions(std::chrono::seconds(1));
    out.insert(out.end(), sessions.begin(), sessions.end());
  }
  return out;
}

std::optional<ConnectionInfo> Dataplane::connection(uint64_t id) const {
  return tcp_ ? tcp_->connection(id, std::chrono::seconds(1)) : std::nullopt;
}

Status Dataplane::close_connection(uint64_t id) {
  if (!tcp_ || !tcp_->close_connection(id, std::chrono::seconds(1))) {
    return Status::not_found("no open connection " + std::to_string(id));
  }
  return {};
}

std::optional<SocketAddress> Dataplane::bound_address(const std::string& service) const {
  for (const auto& s : services_) {
    if (s->name() == service) return s->listen_address();
  }
  return std::nullopt;
}

}  // namespace nib

// ---- Runtime management ---------------------------------------------------
// Every method finds its service, then (for changes) holds the service's admin
// mutex so validation, the registry change, the client table change and the
// event happen as one step; workers never take that mutex. The registry
// validates and changes nothing on error.

namespace nib {
namespace {

Service* find_service(const std::vector<std::unique_ptr<Service>>& services, const std::string& name) {
  for (const auto& s : services) {
    if (s->name() == name) return s.get();
  }
  return nullptr;
}

Status no_service(const std::string& name) { return Status::not_found("no service named '" + name + "'"); }

double duration_seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

std::string format_seconds(double s) {
  std::ostringstream out;
  out << s << " s";
  return out.str();
}

// A backend's PROXY setting as the API words it.
std::string proxy_text(std::optional<ProxyProtocol> version) { return version ? to_string(*version) : "service"; }

// Appends "field a -> b" when the values differ.
template <typename T>
void note_change(std::string& out, const char* field, const T& before, const T& after) {
  if (before == after) return;
  std::ostringstream text;
  text << (out.empty() ? "" : ", ") << field << ' ' << before << " -> " << after;
  out += text.str();
}

std::string describe(const BackendConfig& before, AdminState state_before, const Backend& after) {
  std::string out;
  note_change(out, "address", before.address.to_string(), after.address().to_string());
  note_change(out, "weight", before.weight, after.weight());
  note_change(out, "prio", before.prio, after.prio());
  note_change(out, "soft_limit", before.soft_limit, after.soft_limit());
  note_change(out, "hard_limit", before.hard_limit, after.hard_limit());
  note_change(out, "proxy_protocol", proxy_text(before.proxy_protocol), proxy_text(after.proxy_protocol()));
  note_change(out, "tcp_fast_open", std::string(before.tcp_fast_open ? "on" : "off"),
              std::string(after.tcp_fast_open() ? "on" : "off"));
  note_change(out, "state", std::string(to_string(state_before)), std::string(to_string(after.admin_state())));
  return out;
}

std::string describe(const PolicyConfig& before, const PolicyConfig& after) {
  std::string out;
  note_change(out, "mode", std::string(to_string(before.mode)), std::string(to_string(after.mode)));
  note_change(out, "stubborn", std::string(before.stubborn ? "on" : "off"), std::string(after.stubborn ? "on" : "off"));
  note_change(out, "consistent", std::string(before.consistent ? "on" : "off"),
              std::string(after.consistent ? "on" : "off"));
  note_change(out, "tracking", format_seconds(before.tracking_seconds), format_seconds(after.tracking_seconds));
  note_change(out, "blacklist", format_seconds(before.blacklist_seconds), format_seconds(after.blacklist_seconds));
  note_change(out, "table_size", before.table_size, after.table_size);
  note_change(out, "connect_timeout", format_seconds(before.connect_timeout_seconds),
              format_seconds(after.connect_timeout_seconds));
  note_change(out, "idle_timeout", format_seconds(before.idle_timeout_seconds),
              format_seconds(after.idle_timeout_seconds));
  note_change(out, "max_connections", before.max_connections, after.max_connections);
  note_change(out, "pending_max", before.pending_max, after.pending_max);
  note_change(out, "idlers", before.idlers, after.idlers);
  return out;
}

// One INFO line and one event per change.
void announce(EventBus& bus, DataplaneEvent::Kind kind, const std::string& service, uint32_t backend_id,
              std::string detail) {
  log_info("service " + service + ": " + to_string(kind) +
           (backend_id != 0 ? " backend " + std::to_string(backend_id) : std::string()) + ": " + detail);
  DataplaneEvent e;
  e.kind = kind;
  e.service = service;
  e.backend_id = backend_id;
  e.detail = std::move(detail);
  bus.publish(std::move(e));
}

void announce_drain_finished(EventBus& bus, const std::string& service, const Backend& b) {
  announce(bus, DataplaneEvent::Kind::kDrainFinished, service, b.id(),
           b.address().to_string() + ": no connection left");
}

void announce_reload(EventBus& bus, const std::string& service, const RegistryDiff& diff) {
  for (const auto& b : diff.added) {
    announce(bus, DataplaneEvent::Kind::kBackendAdded, service, b->id(), b->address().to_string() + " (reload)");
  }
  for (const auto& b : diff.removed) {
    announce(bus, DataplaneEvent::Kind::kBackendRemoved, service, b->id(), b->address().to_string() + " (reload)");
  }
  if (diff.policy_changed) announce(bus, DataplaneEvent::Kind::kPolicyChanged, service, 0, "reload");
}

// A regular backend of the snapshot, or why not (the registry's wording).
Status check_backend(const RegistrySnapshot& snap, uint32_t id) {
  if (snap.index_of(id) >= 0) return {};
  if (snap.emergency && snap.emergency->id() == id) {
    return Status::invalid("backend " + std::to_string(id) + " is the emergency server; change it in the configuration");
  }
  return Status::not_found("no backend with id " + std::to_string(id));
}

Result<BackendStatus> status_of(const Service& s, uint32_t id, MonoTime now) {
  auto snap = s.registry().snapshot();
  int idx = snap->index_of(id);
  if (idx >= 0) return backend_status(*snap->backends[idx], idx, now);
  if (snap->emergency && snap->emergency->id() == id) return backend_status(*snap->emergency, -1, now);
  return Status::not_found("no backend with id " + std::to_string(id));
}

// The clients of one backend, paged. The table lists in chunks (each list()
// call walks from the start, so chunks are large enough to bound that to about
// 64 walks); memory stays at one chunk plus the page.
std::vector<AffinityEntry> clients_of(const AffinityTable& table, uint32_t id, uint64_t offset, uint64_t limit,
                                      MonoTime now) {
  std::vector<AffinityEntry> out;
  const uint64_t chunk = std::max<uint64_t>(4096, table.size() / 64);
  uint64_t skip = offset;
  for (uint64_t pos = 0; out.size() < limit; pos += chunk) {
    auto part = table.list(now, pos, chunk);
    for (const auto& e : part) {
      if (e.backend_id != id) continue;
      if (skip > 0) {
        --skip;
      } else if (out.size() < limit) {
        out.push_back(e);
      }
    }
    if (part.size() < chunk) break;
  }
  return out;
}

}  // namespace

std::vector<std::string> Dataplane::service_names() const {
  std::vector<std::string> out;
  for (const auto& s : services_) out.push_back(s->name());
  return out;
}

Result<ServiceStatus> Dataplane::service(const std::string& name) const {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  return service_status(*s);
}

Result<ServiceStatus> Dataplane::service_with_clients(const std::string& name) const {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  ServiceStatus st = service_status(*s);
  const auto counts = s->affinity().count_by_backend();
  for (auto& b : st.backends) {
    auto it = counts.find(b.id);
    if (it != counts.end()) b.remembered_clients = it->second;
  }
  return st;
}

Result<BackendStatus> Dataplane::add_backend(const std::string& name, const BackendConfig& config) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (Status st = check_proxy_protocol(s->protocol(), config.proxy_protocol); !st.ok()) return st;
  if (Status st = check_tcp_fast_open(s->protocol(), config.tcp_fast_open); !st.ok()) return st;
  std::lock_guard lock(s->admin_mutex());
  auto added = s->registry().add(config);
  if (!added.ok()) return added.status();
  const Backend& b = **added;
  std::ostringstream detail;
  detail << b.address().to_string() << " weight " << b.weight() << " prio " << b.prio() << " soft_limit "
         << b.soft_limit() << " hard_limit " << b.hard_limit();
  if (b.proxy_protocol()) detail << " proxy_protocol " << to_string(*b.proxy_protocol());
  if (b.tcp_fast_open()) detail << " tcp_fast_open on";
  announce(events_, DataplaneEvent::Kind::kBackendAdded, name, b.id(), detail.str());
  refresh_health();
  refresh_idlers();
  return status_of(*s, b.id(), clock_.now());
}

Result<BackendStatus> Dataplane::update_backend(const std::string& name, uint32_t id, const BackendPatch& patch) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (patch.proxy_protocol) {
    if (Status st = check_proxy_protocol(s->protocol(), *patch.proxy_protocol); !st.ok()) return st;
  }
  if (patch.tcp_fast_open) {
    if (Status st = check_tcp_fast_open(s->protocol(), *patch.tcp_fast_open); !st.ok()) return st;
  }
  std::lock_guard lock(s->admin_mutex());
  auto patched = s->registry().update(id, patch);
  if (!patched.ok()) return patched.status();
  std::string detail = describe(patched->before, patched->state_before, *patched->backend);
  if (const auto& old = patched->replaced) {
    detail += "; " + std::to_string(old->active()) + " open connections finish on " + old->address().to_string();
  }
  if (!detail.empty()) announce(events_, DataplaneEvent::Kind::kBackendUpdated, name, id, detail);
  if (patched->replaced) refresh_health();  // the new address is checked afresh
  refresh_idlers();  // idlers leave a disabled backend, or its old address
  return status_of(*s, id, clock_.now());
}

Status Dataplane::remove_backend(const std::string& name, uint32_t id) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  std::lock_guard lock(s->admin_mutex());
  auto removed = s->registry().remove(id);
  if (!removed.ok()) return removed.status();
  // After the snapshot without it: a connection choosing from an older
  // snapshot may still record the id, which the next lookup ignores.
  uint64_t forgotten = s->affinity().forget_backend(id);
  const Backend& b = *removed->backend;
  announce(events_, DataplaneEvent::Kind::kBackendRemoved, name, id,
           b.address().to_string() + ": " + std::to_string(forgotten) + " remembered clients forgotten, " +
               std::to_string(removed->pins_dropped) + " pins dropped, " + std::to_string(b.active()) +
               " open connections finish");
  refresh_health();
  refresh_idlers();
  return {};
}

Result<BackendStatus> Dataplane::drain_backend(const std::string& name, uint32_t id,
                                               std::optional<double> timeout_seconds) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (timeout_seconds && !(*timeout_seconds >= 0 && *timeout_seconds <= 1e9)) {
    return Status::invalid("timeout_seconds: expected seconds 0-1000000000");
  }
  std::lock_guard lock(s->admin_mutex());
  auto before = s->registry().set_admin_state(id, AdminState::kDraining);
  if (!before.ok()) return before.status();
  auto snap = s->registry().snapshot();
  const std::shared_ptr<Backend>& b = snap->backends[snap->index_of(id)];
  const Duration timeout = timeout_seconds ? seconds_to_duration(*timeout_seconds) : snap->drain_timeout;
  if (*before != AdminState::kDraining) {
    announce(events_, DataplaneEvent::Kind::kDrainStarted, name, id,
             std::string(to_string(*before)) + " -> draining, " + std::to_string(b->active()) +
                 " open connections" +
                 (timeout > Duration::zero() ? ", closed after " + format_seconds(duration_seconds(timeout)) : ""));
    // Armed only after the start is announced, so the finish never precedes it.
    if (b->arm_drain()) {
      announce_drain_finished(events_, name, *b);
    } else if (timeout > Duration::zero()) {
      schedule_drain_deadline(b, timeout);
    }
  } else if (timeout_seconds && timeout > Duration::zero() && b->active() > 0) {
    schedule_drain_deadline(b, timeout);  // draining already: a new deadline for it
  }
  refresh_idlers();  // its idlers move at once
  return status_of(*s, id, clock_.now());
}

void Dataplane::schedule_drain_deadline(const std::shared_ptr<Backend>& b, Duration timeout) {
  const MonoTime deadline = clock_.now() + timeout;
  const uint64_t generation = b->drain_generation();
  // The same deadline on every worker of both engines: each closes its own.
  if (tcp_) tcp_->close_drain_stragglers_at(b, generation, deadline);
  if (udp_) udp_->close_drain_stragglers_at(b, generation, deadline);
}

Status Dataplane::blacklist_backend(const std::string& name, uint32_t id, double seconds) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (!(seconds >= 0) || seconds > 1e9) return Status::invalid("blacklist: expected seconds 0-1000000000");
  auto snap = s->registry().snapshot();
  int index = snap->index_of(id);
  if (index < 0) return Status::not_found("service '" + name + "' has no backend with id " + std::to_string(id));
  Backend& b = *snap->backends[index];
  if (seconds == 0) {
    b.clear_blacklist();
  } else {
    b.blacklist_until(clock_.now() + seconds_to_duration(seconds));
  }
  return {};
}

Result<BackendStatus> Dataplane::backend(const std::string& name, uint32_t id) const {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  auto st = status_of(*s, id, clock_.now());
  if (st.ok()) st->remembered_clients = s->affinity().count_backend(id);
  return st;
}

Result<std::vector<AffinityEntry>> Dataplane::list_clients(const std::string& name, uint64_t offset, uint64_t limit,
                                                           std::optional<uint32_t> backend_id) const {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (!backend_id) return s->affinity().list(clock_.now(), offset, limit);
  if (!status_of(*s, *backend_id, clock_.now()).ok()) {
    return Status::not_found("no backend with id " + std::to_string(*backend_id));
  }
  return clients_of(s->affinity(), *backend_id, offset, limit, clock_.now());
}

Status Dataplane::forget_client(const std::string& name, const IpKey& client) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  std::lock_guard lock(s->admin_mutex());
  if (!s->affinity().forget(client)) return Status::not_found("client " + client.to_string() + " is not remembered");
  announce(events_, DataplaneEvent::Kind::kBackendUpdated, name, 0, "forgot client " + client.to_string());
  return {};
}

Status Dataplane::pin_clients(const std::string& name, const IpPrefix& prefix, uint32_t backend_id) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  std::lock_guard lock(s->admin_mutex());
  auto before = s->registry().pin(prefix, backend_id);
  if (!before.ok()) return before.status();
  if (*before == backend_id) return {};  // already so
  std::string detail = "pinned clients " + prefix.to_string();
  if (*before != 0) detail += " (were pinned to backend " + std::to_string(*before) + ")";
  announce(events_, DataplaneEvent::Kind::kBackendUpdated, name, backend_id, detail);
  return {};
}

Status Dataplane::unpin_clients(const std::string& name, const IpPrefix& prefix) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  std::lock_guard lock(s->admin_mutex());
  auto was = s->registry().unpin(prefix);
  if (!was.ok()) return was.status();
  announce(events_, DataplaneEvent::Kind::kBackendUpdated, name, *was, "unpinned clients " + prefix.to_string());
  return {};
}

Result<std::vector<ClientPin>> Dataplane::pins(const std::string& name) const {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  auto snap = s->registry().snapshot();
  if (!snap->pins) return std::vector<ClientPin>{};
  return snap->pins->list();
}

Result<uint64_t> Dataplane::migrate_clients(const std::string& name, uint32_t from, std::optional<uint32_t> to) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  std::lock_guard lock(s->admin_mutex());
  auto snap = s->registry().snapshot();
  if (Status st = check_backend(*snap, from); !st.ok()) return st;
  if (to) {
    if (Status st = check_backend(*snap, *to); !st.ok()) return st;
    if (*to == from) return Status::invalid("cannot migrate clients of backend " + std::to_string(from) + " to itself");
  }
  uint64_t moved = to ? s->affinity().reassign_backend(from, *to) : s->affinity().forget_backend(from);
  if (moved != 0) {
    announce(events_, DataplaneEvent::Kind::kBackendUpdated, name, from,
             to ? "moved " + std::to_string(moved) + " remembered clients to backend " + std::to_string(*to)
                : "forgot " + std::to_string(moved) + " remembered clients");
  }
  return moved;
}

Result<PolicyConfig> Dataplane::policy(const std::string& name) const {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  return s->registry().snapshot()->policy;
}

Status Dataplane::set_policy(const std::string& name, const PolicyConfig& policy) {
  auto applied = update_policy(name, [&policy](PolicyConfig& p) {
    p = policy;
    return Status();
  });
  return applied.ok() ? Status() : applied.status();
}

Result<PolicyConfig> Dataplane::update_policy(const std::string& name, const PolicyEdit& edit) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  // Read, edit and write under the one lock: two partial updates at once
  // each keep the other's fields.
  std::lock_guard lock(s->admin_mutex());
  PolicyConfig policy = s->registry().snapshot()->policy;
  if (Status st = edit(policy); !st.ok()) return st;
  if (Status st = check_idlers(s->protocol(), dsr_of(*s) != nullptr, policy.idlers); !st.ok()) return st;
  auto before = s->registry().set_policy(policy);  // validates everything first
  if (!before.ok()) return before.status();
  s->affinity().set_tracking(seconds_to_duration(policy.tracking_seconds));
  if (s->affinity().capacity() != policy.table_size) s->affinity().resize(policy.table_size);
  // A listener paused at the old -x or pending_max waits for a close (or a connect) otherwise.
  const bool limit_changed =
      policy.max_connections != before->max_connections || policy.pending_max != before->pending_max;
  if (limit_changed && budget_) budget_->wake_parked();
  // Open connections too: an operator lowers it to reclaim idle ones now.
  if (policy.idle_timeout_seconds != before->idle_timeout_seconds && tcp_ && s->protocol() == Protocol::kTcp) {
    tcp_->set_idle_timeout(*s, seconds_to_duration(policy.idle_timeout_seconds));
  }
  std::string detail = describe(*before, policy);
  if (!detail.empty()) announce(events_, DataplaneEvent::Kind::kPolicyChanged, name, 0, detail);
  if (policy.idlers != before->idlers) refresh_idlers();
  return policy;
}

Result<AccessList> Dataplane::client_acl(const std::string& name) const {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  auto acl = s->registry().snapshot()->client_acl;
  return acl ? *acl : AccessList();
}

Status Dataplane::set_client_acl(const std::string& name, const AccessList& acl) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (Status st = prepare_acl(acl); !st.ok()) return st;
  std::lock_guard lock(s->admin_mutex());
  s->registry().set_client_acl(acl);
  announce(events_, DataplaneEvent::Kind::kAclChanged, name, 0,
           acl.empty() ? std::string("client ACL cleared: every client is served")
                       : "client ACL set: " + std::to_string(acl.entries().size()) + " entries");
  return {};
}

std::shared_ptr<const TlsTerminator> Dataplane::tls_terminator(const std::string& name) const {
  const Service* s = find_service(services_, name);
  return s == nullptr ? nullptr : s->registry().snapshot()->tls;
}

Result<TlsConfig> Dataplane::tls_settings(const std::string& name) const {
  const Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  auto settings = s->registry().snapshot()->tls_settings;
  if (!settings) return Status(StatusCode::kFailedPrecondition, "service '" + name + "' does not speak TLS");
  return *settings;
}

Result<TlsConfig> Dataplane::update_tls(const std::string& name, const TlsEdit& edit) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  std::lock_guard lock(s->admin_mutex());
  auto current = s->registry().snapshot()->tls_settings;
  if (!current) return Status(StatusCode::kFailedPrecondition, "service '" + name + "' does not speak TLS");
  TlsConfig settings = *current;
  auto terminator = edit(settings);
  if (!terminator.ok()) return terminator.status();
  if (!*terminator) return *current;
  s->registry().set_tls(std::move(*terminator), std::make_shared<const TlsConfig>(settings));
  announce(events_, DataplaneEvent::Kind::kTlsChanged, name, 0,
           settings == *current ? "TLS files read again (certificate " + settings.cert_file + ")"
                                : "TLS settings changed (certificate " + settings.cert_file + ")");
  return settings;
}

Status Dataplane::set_tls_connector(const std::string& name, std::shared_ptr<const TlsConnector> connector) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (!connector) return Status::invalid("service '" + name + "': no TLS connector given");
  std::lock_guard lock(s->admin_mutex());
  if (!s->registry().snapshot()->backend_tls) {
    return Status::invalid("service '" + name + "' does not re-encrypt to its backends");
  }
  s->registry().set_backend_tls(std::move(connector));
  return {};
}

std::shared_ptr<const TlsConnector> Dataplane::tls_connector(const std::string& name) const {
  const Service* s = find_service(services_, name);
  return s == nullptr ? nullptr : s->registry().snapshot()->backend_tls;
}

Status Dataplane::set_server_acl(const std::string& name, uint32_t id, const AccessList& acl) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (Status st = prepare_acl(acl); !st.ok()) return st;
  std::lock_guard lock(s->admin_mutex());
  if (Status st = s->registry().set_server_acl(id, acl); !st.ok()) return st;
  announce(events_, DataplaneEvent::Kind::kBackendUpdated, name, id,
           acl.empty() ? std::string("server acl cleared: every client")
                       : "server acl set: " + std::to_string(acl.entries().size()) + " entries");
  return {};
}

Status Dataplane::set_tarpit_acl(const std::string& name, const AccessList& acl) {
  if (Status st = check_tarpit_acl(name); !st.ok()) return st;
  dsr_of(*find_service(services_, name))->set_tarpit(acl);
  log_info("service " + name + ": tarpit " +
           (acl.empty() ? std::string("off") : "on for " + std::to_string(acl.entries().size()) + " entries"));
  return {};
}

Status Dataplane::check_tarpit_acl(const std::string& name) const {
  const Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (dsr_of(*s) != nullptr) return {};
  return Status::invalid("tarpit_acl works with direct server return (dsr_if) only; service '" + name +
                         "' has none");
}

const ServiceConfig* Dataplane::configured(const std::string& name) const {
  for (const auto& sc : config_.services) {
    if (sc.name == name) return &sc;
  }
  return nullptr;
}

ServiceConfig* Dataplane::configured(const std::string& name) {
  return const_cast<ServiceConfig*>(std::as_const(*this).configured(name));
}

DsrEngine* Dataplane::dsr_of(const Service& service) const {
  for (const auto& d : dsr_) {
    if (&d->service() == &service) return d.get();
  }
  return nullptr;
}

Status Dataplane::set_listen(const std::string& name, const SocketAddress& address) {
  Service* s = find_service(services_, name);
  if (s == nullptr) return no_service(name);
  if (!address.valid()) return Status::invalid("listen: expected an IP address and a port");
  if (s->protocol() != Protocol::kTcp || dsr_of(*s) != nullptr || !tcp_) {
    return Status::invalid("listen: service '" + name + "' is not a TCP relay; restart nib to move it");
  }
  if (!s->listen_path().empty()) {
    return Status::invalid("listen: service '" + name + "' listens on the Unix socket " + s->listen_path() +
                           "; restart nib to change it");
  }
  std::lock_guard lock(s->admin_mutex());
  const SocketAddress before = s->listen_address();
  if (address == before) return {};
  ServiceConfig* sc = configured(name);
  if (!sc->reuse_port && address.port() != 0) {
    if (Status st = check_port_free(address, /*tcp=*/true); !st.ok()) return Status(st.code(), "listen: " + st.message());
  }
  if (Status st = tcp_->rebind(*s, address); !st.ok()) return st;
  {
    std::lock_guard config_lock(health_mu_);  // guards config_, which a reload compares with
    sc->listen = address;  // as asked (port 0 stays 0), as a file would say it
  }
  log_info("service " + name + ": listening on " + s->listen_address().to_string() + " (was " + before.to_string() +
           "); open connections go on");
  return {};
}

}  // namespace nib
