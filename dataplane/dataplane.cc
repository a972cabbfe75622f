#include "dataplane/dataplane.h"

#include <thread>

#include "dataplane/base/log.h"
#include "dataplane/net/socket_ops.h"
#include "dataplane/service/service.h"
#include "dataplane/tcp/tcp_worker.h"

namespace nib {
namespace {

constexpr uint64_t kReservedFds = 64;  // listeners, epoll, logs, admin plane

unsigned pick_workers(int configured) {
  if (configured > 0) return static_cast<unsigned>(configured);
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

BackendStatus backend_status(const Backend& b, int index, MonoTime now) {
  BackendStatus s;
  s.id = b.id();
  s.index = index;
  s.host = b.host();
  s.address = b.address();
  s.admin_state = b.admin_state();
  s.blacklisted = b.blacklisted(now);
  if (s.blacklisted) s.blacklist_remaining_seconds = std::chrono::duration<double>(b.blacklisted_until() - now).count();
  s.soft_limit = b.soft_limit();
  s.hard_limit = b.hard_limit();
  s.weight = b.weight();
  s.prio = b.prio();
  s.active = b.active();
  s.counters = b.counters();
  return s;
}

}  // namespace

Dataplane::Dataplane(DataplaneConfig config)
    : config_(std::move(config)), workers_count_(pick_workers(config_.workers)) {}

Dataplane::~Dataplane() { stop(); }

Status Dataplane::start() {
  fd_limit_ = raise_fd_limit();
  // Each relayed connection holds two descriptors.
  const uint64_t fd_connections = fd_limit_ > 2 * kReservedFds ? (fd_limit_ - kReservedFds) / 2 : 1;
  for (auto& sc : config_.services) {
    if (sc.protocol != Protocol::kTcp) return Status::invalid("service '" + sc.name + "': only TCP is supported yet");
    if (sc.max_connections == 0) {
      sc.max_connections = static_cast<uint32_t>(fd_connections);
    } else if (sc.max_connections > fd_connections) {
      log_warn("service " + sc.name + ": max connections " + std::to_string(sc.max_connections) +
               " exceeds what " + std::to_string(fd_limit_) + " file descriptors allow (about " +
               std::to_string(fd_connections) + "); raise the hard RLIMIT_NOFILE");
    }
    services_.push_back(std::make_unique<Service>(sc, workers_count_));
  }
  for (unsigned i = 0; i < workers_count_; ++i) {
    auto w = std::make_unique<TcpWorker>(i);
    if (Status st = w->init(); !st.ok()) return st;
    workers_.push_back(std::move(w));
  }
  for (auto& service : services_) {
    SocketAddress addr = service->listen_address();
    for (auto& w : workers_) {
      auto fd = make_tcp_listener(addr, service->backlog(), /*reuse_port=*/true);
      if (!fd.ok()) return Status::unavailable("service '" + service->name() + "': " + fd.status().message());
      if (addr.port() == 0) {
        // Port 0: the first listener picks the port, the others join it.
        auto bound = local_address(fd->get());
        if (!bound.ok()) return bound.status();
        addr = *bound;
      }
      if (Status st = w->add_listener(*service, std::move(*fd)); !st.ok()) return st;
    }
    service->set_bound_address(addr);
  }
  for (auto& w : workers_) w->start();
  started_ = true;
  return {};
}

void Dataplane::stop_accepting() {
  for (auto& w : workers_) w->stop_accepting();
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
  for (auto& w : workers_) w->stop();
  workers_.clear();
}

int64_t Dataplane::open_connections() const {
  int64_t n = 0;
  for (auto& w : workers_) n += w->open_connections();
  return n;
}

Status Dataplane::check_reload(const DataplaneConfig& config) const {
  if (Status st = validate(config); !st.ok()) return st;
  if (config.services.size() != services_.size()) {
    return Status::invalid("the set of services changed; adding or removing services needs a restart");
  }
  for (const auto& sc : config.services) {
    const Service* match = nullptr;
    for (const auto& s : services_) {
      if (s->name() == sc.name) match = s.get();
    }
    if (match == nullptr) return Status::invalid("service '" + sc.name + "' is new; adding services needs a restart");
    if (sc.protocol != match->protocol()) return Status::invalid("service '" + sc.name + "': protocol change needs a restart");
    const auto& old = std::find_if(config_.services.begin(), config_.services.end(),
                                   [&](const ServiceConfig& o) { return o.name == sc.name; });
    if (!(old->listen == sc.listen)) {
      return Status::invalid("service '" + sc.name + "': listen address change needs a restart");
    }
  }
  return {};
}

Status Dataplane::reload(const DataplaneConfig& config) {
  if (Status st = check_reload(config); !st.ok()) return st;
  for (const auto& sc : config.services) {
    for (auto& s : services_) {
      if (s->name() != sc.name) continue;
      ServiceConfig applied = sc;
      if (applied.max_connections == 0) {
        applied.max_connections = static_cast<uint32_t>(fd_limit_ > 2 * kReservedFds ? (fd_limit_ - kReservedFds) / 2 : 1);
      }
      s->apply(applied);
    }
  }
  for (auto& sc : config_.services) {
    for (const auto& nc : config.services) {
      if (nc.name == sc.name) {
        SocketAddress listen = sc.listen;
        sc = nc;
        sc.listen = listen;
      }
    }
  }
  return {};
}

ServiceStatus Dataplane::service_status(const Service& s) const {
  MonoTime now = MonoClock::now();
  auto snap = s.registry().snapshot();
  ServiceStatus st;
  st.name = s.name();
  st.protocol = s.protocol();
  st.listen = s.listen_address();
  st.policy = snap->policy;
  st.connect_timeout_seconds = std::chrono::duration<double>(snap->connect_timeout).count();
  st.idle_timeout_seconds = std::chrono::duration<double>(snap->idle_timeout).count();
  st.max_connections = snap->max_connections;
  st.active = s.active();
  st.counters = s.counters();
  st.affinity = s.affinity().stats();
  for (size_t i = 0; i < snap->backends.size(); ++i) {
    st.backends.push_back(backend_status(*snap->backends[i], static_cast<int>(i), now));
  }
  if (snap->emergency) st.emergency = backend_status(*snap->emergency, -1, now);
  return st;
}

std::vector<ServiceStatus> Dataplane::status() const {
  std::vector<ServiceStatus> out;
  for (const auto& s : services_) out.push_back(service_status(*s));
  return out;
}

std::vector<AffinityEntry> Dataplane::clients(const std::string& service, uint64_t limit) const {
  for (const auto& s : services_) {
    if (s->name() == service) return s->affinity().list(MonoClock::now(), 0, limit);
  }
  return {};
}

std::vector<ConnectionInfo> Dataplane::connections() const {
  std::vector<ConnectionInfo> out;
  for (const auto& w : workers_) {
    auto part = w->connections(std::chrono::seconds(1));
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

std::optional<SocketAddress> Dataplane::bound_address(const std::string& service) const {
  for (const auto& s : services_) {
    if (s->name() == service) return s->listen_address();
  }
  return std::nullopt;
}

}  // namespace nib
