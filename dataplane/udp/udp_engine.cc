#include "dataplane/udp/udp_engine.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "dataplane/base/log.h"
#include "dataplane/log/access_log.h"
#include "dataplane/net/socket_ops.h"
#include "dataplane/service/service.h"
#include "dataplane/udp/udp_worker.h"

namespace nib {
namespace {

// Room for bursts: the kernel caps these at net.core.rmem_max / wmem_max.
constexpr int kSocketBuffer = 4 << 20;

Status errno_status(const std::string& what) { return Status::unavailable(what + ": " + std::strerror(errno)); }

bool is_wildcard(const SocketAddress& a) {
  if (a.family() == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(a.sockaddr_ptr())->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(a.sockaddr_ptr())->sin6_addr);
}

// A non-blocking UDP socket bound to `address` with SO_REUSEPORT, so every
// worker binds its own and the kernel spreads clients by address and port.
Result<UniqueFd> make_udp_listener(const SocketAddress& address, bool wildcard) {
  UniqueFd fd(::socket(address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_status("socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return errno_status("setsockopt SO_REUSEPORT");
  }
  int size = kSocketBuffer;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  if (address.family() == AF_INET6) {
    // [::]:port serves IPv6 only; an IPv4 service is declared separately.
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (wildcard && ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) != 0) {
      return errno_status("setsockopt IPV6_RECVPKTINFO");
    }
  } else if (wildcard && ::setsockopt(fd.get(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one) != 0) {
    return errno_status("setsockopt IP_PKTINFO");
  }
  if (::bind(fd.get(), address.sockaddr_ptr(), address.length()) != 0) {
    return errno_status("bind udp " + address.to_string());
  }
  return fd;
}

// Worker i's share of `total`: spread evenly, the remainder to the first ones,
// at least one each. Shares, not one global count: a worker evicts only its
// own sessions, without locks (clients are spread over workers by a hash).
uint64_t share(uint64_t total, unsigned workers, unsigned i) {
  uint64_t s = total / workers + (i < total % workers ? 1 : 0);
  return s == 0 ? 1 : s;
}

}  // namespace

UdpEngine::UdpEngine(unsigned workers, FdBudget& budget, Clock& clock)
    : workers_count_(workers == 0 ? 1 : workers), clock_(clock), budget_(budget) {}

UdpEngine::~UdpEngine() { stop(); }

void UdpEngine::add_service(Service& service, const ServiceConfig& config, uint64_t fd_budget) {
  uint64_t max = config.udp_max_sessions;
  if (max == 0) {
    max = fd_budget;
  } else if (max > fd_budget) {
    log_warn("service " + config.name + ": max sessions " + std::to_string(max) + " exceeds what the file " +
             "descriptors allow (about " + std::to_string(fd_budget) + "); raise the hard RLIMIT_NOFILE");
  }
  std::lock_guard lock(mutex_);
  fd_budget_ = fd_budget;
  services_.push_back(Entry{&service, config.udp_session_timeout_seconds, max});
}

void UdpEngine::set_access_log(AccessLog* log, unsigned first_ring) {
  std::lock_guard lock(mutex_);
  access_log_ = log;
  first_ring_ = first_ring;
  for (unsigned i = 0; i < workers_.size(); ++i) {
    workers_[i]->set_access_ring(log ? &log->ring(first_ring + i) : nullptr);
  }
}

Status UdpEngine::bind() {
  if (services_.empty()) return {};
  for (unsigned i = 0; i < workers_count_; ++i) {
    auto w = std::make_unique<UdpWorker>(i, budget_, clock_);
    if (Status st = w->init(); !st.ok()) return st;
    if (access_log_) w->set_access_ring(&access_log_->ring(first_ring_ + i));
    workers_.push_back(std::move(w));
  }
  for (Entry& e : services_) {
    SocketAddress addr = e.service->listen_address();
    const bool wildcard = is_wildcard(addr);
    for (unsigned i = 0; i < workers_count_; ++i) {
      auto fd = make_udp_listener(addr, wildcard);
      if (!fd.ok()) return Status::unavailable("service '" + e.service->name() + "': " + fd.status().message());
      if (addr.port() == 0) {
        // Port 0: the first socket picks the port, the others join it.
        auto bound = local_address(fd->get());
        if (!bound.ok()) return bound.status();
        addr = *bound;
      }
      UdpSessionSettings settings{seconds_to_duration(e.timeout_seconds), share(e.max_sessions, workers_count_, i)};
      if (Status st = workers_[i]->add_listener(*e.service, std::move(*fd), wildcard, settings); !st.ok()) return st;
    }
    e.service->set_bound_address(addr);
  }
  return {};
}

void UdpEngine::start() {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->start();
}

UdpEngine::Entry* UdpEngine::find(const std::string& name) {
  for (Entry& e : services_) {
    if (e.service->name() == name) return &e;
  }
  return nullptr;
}

void UdpEngine::apply(const ServiceConfig& config) {
  std::lock_guard lock(mutex_);
  Entry* e = find(config.name);
  if (e == nullptr) return;
  e->timeout_seconds = config.udp_session_timeout_seconds;
  e->max_sessions = config.udp_max_sessions != 0 ? config.udp_max_sessions : fd_budget_;
  for (unsigned i = 0; i < workers_.size(); ++i) {
    workers_[i]->apply(*e->service, UdpSessionSettings{seconds_to_duration(e->timeout_seconds),
                                                       share(e->max_sessions, workers_count_, i)});
  }
}

void UdpEngine::close_drain_stragglers_at(const std::shared_ptr<Backend>& backend, uint64_t generation,
                                          MonoTime deadline) {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->close_drain_stragglers_at(backend, generation, deadline);
}

void UdpEngine::shut_down() {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->shut_down();
}

void UdpEngine::stop() {
  std::lock_guard lock(mutex_);
  for (auto& w : workers_) w->stop();
  workers_.clear();
}

void UdpEngine::fill_status(const Service& service, ServiceStatus* status) const {
  std::lock_guard lock(mutex_);
  for (const Entry& e : services_) {
    if (e.service != &service) continue;
    UdpServiceStatus udp;
    udp.session_timeout_seconds = e.timeout_seconds;
    udp.max_sessions = e.max_sessions;
    for (const auto& w : workers_) w->add_counters(service, udp.counters);
    status->active = static_cast<int64_t>(udp.counters.sessions);
    status->max_connections = static_cast<uint32_t>(std::min<uint64_t>(e.max_sessions, UINT32_MAX));
    status->udp = udp;
    return;
  }
}

void UdpEngine::add_shortages(ShortageCounts& sum) const {
  std::lock_guard lock(mutex_);
  for (const auto& w : workers_) w->add_shortages(sum);
}

std::vector<ConnectionInfo> UdpEngine::sessions(Duration timeout) const {
  std::lock_guard lock(mutex_);
  std::vector<ConnectionInfo> out;
  for (const auto& w : workers_) {
    auto part = w->sessions(timeout);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

}  // namespace nib
