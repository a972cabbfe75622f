#include "dataplane/tcp/tcp_engine.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/log/access_log.h"
#include "dataplane/net/socket_ops.h"
#include "dataplane/service/service.h"
#include "dataplane/tcp/tcp_worker.h"

namespace nib {

TcpEngine::TcpEngine(unsigned workers, size_t pipes_per_worker, FdBudget& budget, uint64_t relay_memory,
                     Clock& clock, LoopBackend event_loop)
    : workers_count_(workers == 0 ? 1 : workers),
      pipes_per_worker_(pipes_per_worker),
      budget_(budget),
      relay_memory_(relay_memory),
      clock_(clock),
      event_loop_(event_loop) {}

TcpEngine::~TcpEngine() { stop(); }

void TcpEngine::add_service(Service& service) { services_.push_back(&service); }

Status TcpEngine::bind() {
  if (services_.empty()) return {};
  std::lock_guard lock(mutex_);
  for (unsigned i = 0; i < workers_count_; ++i) {
    const size_t buffers_per_worker = relay_memory_ / TcpWorker::kBufferSize / workers_count_;
    auto w = std::make_unique<TcpWorker>(i, workers_count_, pipes_per_worker_, budget_, buffers_per_worker, clock_,
                                         event_loop_);
    if (Status st = w->init(); !st.ok()) return st;
    if (access_log_) w->set_access_ring(&access_log_->ring(i));
    w->set_kernel_relay(kernel_relay_);
    workers_.push_back(std::move(w));
  }
  for (Service* service : services_) {
    if (!service->listen_path().empty()) {
      if (Status st = bind_unix(*service); !st.ok()) return st;
      continue;
    }
    SocketAddress addr = service->listen_address();
    for (auto& w : workers_) {
      auto fd = make_tcp_listener(addr, service->backlog(), /*reuse_port=*/true, service->defer_accept(),
                                  service->tcp_nodelay());
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
  return {};
}

Status TcpEngine::bind_unix(Service& service) {
  const std::string& path = service.listen_path();
  auto fd = make_unix_listener(path, service.backlog(), kUmask);
  if (!fd.ok()) return Status(fd.status().code(), "service '" + service.name() + "': " + fd.status().message());
  unix_paths_.push_back(path);  // ours from here: stop() removes it
  for (auto& w : workers_) {
    UniqueFd copy(::fcntl(fd->get(), F_DUPFD_CLOEXEC, 0));
    if (!copy) return Status::unavailable("service '" + service.name() + "': dup: " + std::strerror(errno));
    if (Status st = w->add_listener(service, std::move(copy), /*shared=*/true); !st.ok()) return st;
  }
  return {};  // `fd` closes here; the workers' copies keep the socket open
}

void TcpEngine::set_access_log(AccessLog* log) {
  std::lock_guard lock(mutex_);
  access_log_ = log;
  for (unsigned i = 0; i < workers_.size(); ++i) workers_[i]->set_access_ring(log ? &log->ring(i) : nullptr);
}

Status TcpEngine::rebind(Service& service, const SocketAddress& address) {
  if (!service.listen_path().empty()) {
    return Status::invalid("listen: service '" + service.name() + "' listens on the Unix socket " +
                           service.listen_path() + "; restart nib to change it");
  }
  std::lock_guard lock(mutex_);
  SocketAddress addr = address;
  std::vector<UniqueFd> fds;
  for (size_t i = 0; i < workers_.size(); ++i) {
    auto fd = make_tcp_listener(addr, service.backlog(), /*reuse_port=*/true, service.defer_accept(),
                                service.tcp_nodelay());
    if (!fd.ok()) return Status::unavailable("service '" + service.name() + "': " + fd.status().message());
    if (addr.port() == 0) {
      auto bound = local_address(fd->get());
      if (!bound.ok()) return bound.status();
      addr = *bound;
    }
    fds.push_back(std::move(*fd));
  }
  for (size_t i = 0; i < workers_.size(); ++i) workers_[i]->replace_listener(service, std::move(fds[i]));
  service.set_bound_address(addr);
  return {};
}

void TcpEngine::start() {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->start();
}

void TcpEngine::stop_accepting() {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->stop_accepting();
}

void TcpEngine::stop() {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->stop();
  workers_.clear();
  for (const auto& path : unix_paths_) ::unlink(path.c_str());
  unix_paths_.clear();
}

LoopBackend TcpEngine::event_loop() const {
  std::lock_guard lock(mutex_);
  return workers_.empty() ? event_loop_ : workers_.front()->loop().backend();
}

int64_t TcpEngine::open_connections() const {
  std::lock_guard lock(mutex_);
  int64_t n = 0;
  for (const auto& w : workers_) n += w->open_connections();
  return n;
}

std::vector<ConnectionInfo> TcpEngine::connections(Duration timeout) const {
  std::lock_guard lock(mutex_);
  std::vector<ConnectionInfo> out;
  for (const auto& w : workers_) {
    auto part = w->connections(timeout);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

std::optional<ConnectionInfo> TcpEngine::connection(uint64_t id, Duration timeout) const {
  std::lock_guard lock(mutex_);
  if (workers_.empty()) return std::nullopt;
  return workers_[id % workers_.size()]->connection(id, timeout);
}

bool TcpEngine::close_connection(uint64_t id, Duration timeout) const {
  std::lock_guard lock(mutex_);
  if (workers_.empty()) return false;
  return workers_[id % workers_.size()]->close_connection(id, timeout);
}

void TcpEngine::add_resources(ResourceStatus& r) const {
  std::lock_guard lock(mutex_);
  for (const auto& w : workers_) {
    r.relay_memory_in_use += w->relay_buffers() * TcpWorker::kBufferSize;
    r.paused_listeners += w->paused_listeners();
    r.relay_kernel_connections += w->kernel_relayed();
    w->add_shortages(r.exhausted);
  }
}

void TcpEngine::close_drain_stragglers_at(const std::shared_ptr<Backend>& backend, uint64_t generation,
                                          MonoTime deadline) {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->close_drain_stragglers_at(backend, generation, deadline);
}

void TcpEngine::set_idle_timeout(const Service& service, Duration timeout) {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->set_idle_timeout(service, timeout);
}

}  // namespace nib
