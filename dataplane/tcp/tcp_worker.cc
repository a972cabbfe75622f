#include "dataplane/tcp/tcp_worker.h"

#include <pthread.h>
#include <sys/socket.h>

#include <csignal>

#include <cerrno>
#include <cstring>
#include <future>

#include "dataplane/base/log.h"
#include "dataplane/config/limits.h"

namespace nib {
namespace {
constexpr int kAcceptBatch = 64;      // per wake-up, so one busy listener cannot starve the rest
constexpr size_t kIdleBuffers = 256;  // idle relay buffers kept for reuse
constexpr auto kRetryMin = std::chrono::milliseconds(limits::kAcceptRetryMinMs);
constexpr auto kRetryMax = std::chrono::milliseconds(limits::kAcceptRetryMaxMs);
// A listener waiting to be woken (a connection closing, buffers back) also
// tries again after this long: a safety net, never the expected path.
constexpr auto kWakeFallback = std::chrono::seconds(1);
}  // namespace

TcpWorker::Listener::Listener(TcpWorker& w, Service& s, UniqueFd fd, bool shared)
    : worker_(w),
      service_(s),
      fd_(std::move(fd)),
      shared_(shared),
      resume_timer_([this] { resume(); }),
      backoff_(kRetryMin) {}

void TcpWorker::Listener::pause(Pause why, bool parked) {
  if (parked_ && !parked) worker_.budget_.unpark();
  parked_ = parked;
  if (paused_ == Pause::kNone) worker_.paused_count_.fetch_add(1, std::memory_order_relaxed);
  paused_ = why;
  if (registered_) worker_.loop_.remove(fd_.get());
  registered_ = false;
  Duration retry = kWakeFallback;
  if (why == Pause::kKernel) {
    retry = backoff_;  // the kernel says nothing when it has room again: try, less and less often
    backoff_ = std::min<Duration>(backoff_ * 2, kRetryMax);
  }
  worker_.loop_.arm(resume_timer_, worker_.loop_.now() + retry);
}

void TcpWorker::Listener::clear_pause() {
  worker_.loop_.cancel(resume_timer_);
  if (parked_) worker_.budget_.unpark();
  parked_ = false;
  if (paused_ != Pause::kNone) worker_.paused_count_.fetch_sub(1, std::memory_order_relaxed);
  paused_ = Pause::kNone;
}

void TcpWorker::Listener::resume() {
  clear_pause();
  if (registered_ || !fd_) return;
  // Level-triggered: clients waiting in the backlog raise an event at once.
  registered_ = worker_.loop_.add(fd_.get(), events(), this).ok();
}

TcpWorker::TcpWorker(unsigned index, unsigned workers, size_t pipe_limit, FdBudget& budget, size_t buffer_limit,
                     Clock& clock, LoopBackend event_loop)
    : index_(index),
      workers_(std::max(workers, 1u)),
      loop_(clock, event_loop),
      buffer_limit_(std::max<size_t>(buffer_limit, 2)),
      drain_deadlines_(loop_, [this](const Backend& b) { close_connections_to(b); }),
      budget_(budget),
      pipes_(pipe_limit, &budget, &shortages_) {
  budget_.add_waker([this] { wake_accepting(); });
}

TcpWorker::~TcpWorker() { stop(); }

Status TcpWorker::init() { return loop_.init(); }

Status TcpWorker::add_listener(Service& service, UniqueFd listener, bool shared) {
  auto l = std::make_unique<Listener>(*this, service, std::move(listener), shared);
  // Level-triggered: a batch limit leaves the rest of the queue for the next wake-up.
  Status st = loop_.add(l->fd_.get(), l->events(), l.get());
  if (!st.ok()) return st;
  l->registered_ = true;
  listeners_.push_back(std::move(l));
  return {};
}

void TcpWorker::replace_listener(const Service& service, UniqueFd listener) {
  auto fd = std::make_shared<UniqueFd>(std::move(listener));  // a task must be copyable
  loop_.post([this, &service, fd] {
    for (auto& l : listeners_) {
      if (&l->service_ != &service || !l->fd_) continue;  // closed: nib is stopping
      if (l->registered_) loop_.remove(l->fd_.get());
      l->fd_ = std::move(*fd);
      if (l->registered_) l->registered_ = loop_.add(l->fd_.get(), l->events(), l.get()).ok();
    }
  });
}

void TcpWorker::start() {
  thread_ = std::thread([this] {
    // Named for operators (top -H, /proc/PID/task/TID/comm) and the tests
    // that tell the workers' capabilities from the other threads'.
    const std::string name = "nib-tcp-" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    // splice() into a socket the peer closed raises SIGPIPE (it has no
    // MSG_NOSIGNAL): block it here, whatever the process does with it.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    loop_.run([this] { recycle_retired(); });
  });
}

void TcpWorker::stop_accepting() {
  loop_.post([this] {
    for (auto& l : listeners_) {
      l->clear_pause();
      if (l->registered_) loop_.remove(l->fd_.get());
      l->registered_ = false;
      l->fd_.reset();
    }
  });
}

void TcpWorker::wake_accepting() {
  // No look at paused_count_ first: a listener counts itself paused only
  // after it parked, and this wake may be the one it parked for.
  if (wake_posted_.exchange(true, std::memory_order_acq_rel)) return;  // one task on its way is enough
  loop_.post([this] {
    wake_posted_.store(false, std::memory_order_release);
    resume_paused(Pause::kNone);
  });
}

void TcpWorker::resume_paused(Pause only) {
  for (auto& l : listeners_) {
    if (l->paused_ != Pause::kNone && (only == Pause::kNone || l->paused_ == only)) l->resume();
  }
}

void TcpWorker::set_idle_timeout(const Service& service, Duration timeout) {
  loop_.post([this, &service, timeout] {
    for (auto& c : pool_) c->set_idle_timeout(service, timeout);
  });
}

void TcpWorker::close_all() {
  loop_.post([this] {
    for (auto& c : pool_) {
      if (c->in_use()) c->close(CloseReason::kShutdown);
    }
  });
}

void TcpWorker::stop() {
  if (!thread_.joinable()) return;
  loop_.stop();
  thread_.join();
  for (auto& c : pool_) {
    if (c->in_use()) c->close(CloseReason::kShutdown);
  }
  recycle_retired();
  for (auto& l : listeners_) l->clear_pause();  // gives back its park
  pipes_.trim();
}

std::vector<ConnectionInfo> TcpWorker::connections(Duration timeout) {
  auto promise = std::make_shared<std::promise<std::vector<ConnectionInfo>>>();
  auto future = promise->get_future();
  loop_.post([this, promise] {
    std::vector<ConnectionInfo> out;
    MonoTime now = loop_.clock().now();
    for (auto& c : pool_) {
      if (c->in_use()) out.push_back(c->info(now));
    }
    promise->set_value(std::move(out));
  });
  if (future.wait_for(timeout) != std::future_status::ready) return {};
  return future.get();
}

std::optional<ConnectionInfo> TcpWorker::connection(uint64_t id, Duration timeout) {
  auto promise = std::make_shared<std::promise<std::optional<ConnectionInfo>>>();
  auto future = promise->get_future();
  loop_.post([this, promise, id] {
    for (auto& c : pool_) {
      if (c->in_use() && c->id() == id) return promise->set_value(c->info(loop_.clock().now()));
    }
    promise->set_value(std::nullopt);
  });
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return future.get();
}

bool TcpWorker::close_connection(uint64_t id, Duration timeout) {
  auto promise = std::make_shared<std::promise<bool>>();
  auto future = promise->get_future();
  loop_.post([this, promise, id] {
    for (auto& c : pool_) {
      if (c->in_use() && c->id() == id) {
        c->close(CloseReason::kOperator);
        return promise->set_value(true);
      }
    }
    promise->set_value(false);
  });
  return future.wait_for(timeout) == std::future_status::ready && future.get();
}

// The admission rule (two buffers per open connection within buffer_limit_)
// means a buffer is always to be had: allocated when none is idle, while the
// idle ones never take the total past the limit.
std::unique_ptr<char[]> TcpWorker::take_buffer() {
  if (buffers_.empty()) {
    buffers_total_.store(buffers_total_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return std::unique_ptr<char[]>(new char[kBufferSize]);
  }
  auto b = std::move(buffers_.back());
  buffers_.pop_back();
  return b;
}

void TcpWorker::give_buffer(std::unique_ptr<char[]> buffer) {
  const size_t total = buffers_total_.load(std::memory_order_relaxed);
  if (buffers_.size() < kIdleBuffers && total <= buffer_limit_) {
    buffers_.push_back(std::move(buffer));
  } else {
    buffers_total_.store(total - 1, std::memory_order_relaxed);  // single writer
  }
}

void TcpWorker::on_shortage(Resource resource, const Service& service, const char* what, int err) {
  if (shortages_.record(resource)) {
    log_warn("service " + service.name() + ": " + what + ": " + std::strerror(err) + "; the client is closed and " +
             "accepting pauses (" + to_string(resource) + " short: not the backend's fault; counted in " +
             "nib_resource_exhausted_total, logged once per burst)");
  }
  for (auto& l : listeners_) {
    if (l->fd_ && l->paused_ == Pause::kNone) l->pause(Pause::kKernel, /*parked=*/false);
  }
  pipes_.trim();  // idle pipes are descriptors a client can use
}

void TcpWorker::retire(TcpConnection* connection) {
  retired_.push_back(connection);
  open_.fetch_sub(1, std::memory_order_relaxed);
  // Its relay memory is free again (the FdBudget's release wakes the rest).
  if (paused_count_.load(std::memory_order_relaxed) != 0) resume_paused(Pause::kMemory);
}

void TcpWorker::recycle_retired() {
  for (TcpConnection* c : retired_) {
    c->recycle();
    free_.push_back(c);
  }
  retired_.clear();
}

TcpConnection* TcpWorker::acquire() {
  if (free_.empty()) {
    pool_.push_back(std::make_unique<TcpConnection>(*this));
    return pool_.back().get();
  }
  TcpConnection* c = free_.back();
  free_.pop_back();
  return c;
}

void TcpWorker::accept_from(Listener& l) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    Pause why = reserve(l);
    // Each of these ends with a release on some worker, which wakes the parked.
    const bool parks = why == Pause::kLimit || why == Pause::kPending || why == Pause::kDescriptors;
    if (parks) {
      // Parked before trying again: a close in between wakes us, it is not lost.
      budget_.park();
      why = reserve(l);
      if (why == Pause::kNone) budget_.unpark();
    }
    if (why != Pause::kNone) {
      if (why == Pause::kDescriptors) on_budget_short(l.service_);
      if (why == Pause::kMemory) on_memory_short(l.service_);  // this worker's own: retire() wakes it
      if (why == Pause::kLimit) l.service_.count_limit_wait(index_);
      if (why == Pause::kPending) l.service_.count_pending_wait(index_);
      return l.pause(why, parks);
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(l.fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      unreserve(l);
      if (err == EINTR || err == ECONNABORTED) continue;
      if (auto shortage = shortage_of(err)) {
        // Clients wait in the backlog rather than spin the level-triggered listener.
        if (shortages_.record(*shortage)) {
          log_warn("service " + l.service_.name() + ": accept: " + std::strerror(err) + "; accepting pauses (" +
                   to_string(*shortage) + " short: counted in nib_resource_exhausted_total, logged once per burst)");
        }
        l.pause(Pause::kKernel, /*parked=*/false);
        pipes_.trim();
      }
      return;  // EAGAIN: the backlog is empty
    }
    l.backoff_ = kRetryMin;
    // A Unix socket's client has no IP: 0.0.0.0 port 0 goes through the ACL,
    // logs and headers like any address, with no case of its own there.
    static const SocketAddress kNoAddress = SocketAddress::any(0);
    admit(l, UniqueFd(fd), l.shared_ ? kNoAddress : SocketAddress(reinterpret_cast<sockaddr*>(&ss), len));
  }
}

TcpWorker::Pause TcpWorker::reserve(Listener& l) {
  Service& service = l.service_;
  uint64_t gen = service.registry().generation();
  if (!l.snapshot_ || gen != l.generation_) {
    l.snapshot_ = service.registry().snapshot();
    l.generation_ = l.snapshot_->generation;
  }
  // Room for its two relay buffers (single thread: open_ is ours).
  if (static_cast<size_t>(open_.load(std::memory_order_relaxed)) >= buffer_limit_ / 2) return Pause::kMemory;
  if (!service.try_admit(l.snapshot_->max_connections)) return Pause::kLimit;
  if (const uint32_t pending_max = l.snapshot_->policy.pending_max; pending_max != 0) {
    if (!service.try_begin_pending(pending_max)) {
      service.release();
      return Pause::kPending;
    }
    l.pending_ = PendingSlot(service, budget_);
  }
  if (!budget_.try_acquire(TcpConnection::kDescriptors)) {
    l.pending_.release();
    service.release();
    return Pause::kDescriptors;
  }
  return Pause::kNone;
}

void TcpWorker::on_memory_short(const Service& service) {
  if (shortages_.record(Resource::kMemory)) {
    log_warn("service " + service.name() + ": worker " + std::to_string(index_) + " holds the " +
             std::to_string(buffer_limit_ / 2) + " connections its share of the relay memory allows; accepting " +
             "pauses until one closes (memory short: counted in nib_resource_exhausted_total, logged once per "
             "burst)");
  }
}

void TcpWorker::on_budget_short(const Service& service) {
  if (shortages_.record(Resource::kFd)) {
    log_warn("service " + service.name() + ": the " + std::to_string(budget_.capacity()) +
             " descriptors of the budget are in use; accepting pauses until connections close (fd short: "
             "counted in nib_resource_exhausted_total, logged once per burst)");
  }
  pipes_.trim();  // idle pipes are descriptors a client can use
}

void TcpWorker::unreserve(Listener& l) {
  l.pending_.release();
  l.service_.release();
  budget_.release(TcpConnection::kDescriptors);
}

void TcpWorker::admit(Listener& l, UniqueFd client, const SocketAddress& peer) {
  Service& service = l.service_;
  service.count_accepted(index_);
  // A trusted balancer's connection: the client ACL applies to the client
  // its PROXY header names, once read.
  const bool proxy_header = service.expects_proxy_header(peer.ip_key());
  const auto verdict =
      proxy_header ? Service::Admission::kAdmit : service.screen(*l.snapshot_, peer.ip_key(), index_);
  if (verdict != Service::Admission::kAdmit) [[unlikely]] {
    if (debug_on()) [[unlikely]] {
      log_debug("service " + service.name() + ": client " + peer.to_string() + ": denied by the acl" +
                (verdict == Service::Admission::kAbuse ? "; to the abuse server" : ""));
    }
    if (verdict == Service::Admission::kRefuse) {
      if (AccessRing* ring = access_ring()) log_denied(*ring, service, peer);
      unreserve(l);
      return;  // closed right after accept, as Pen does with a denied client
    }
    // Pen's -B: relayed to the abuse server like any connection (it holds the
    // slot and descriptors reserved for it), but to that server only. Counted
    // as abuse once it connects, as rejected_acl if it does not.
  }
  open_.fetch_add(1, std::memory_order_relaxed);
  TcpConnection::Start how{.denied = verdict == Service::Admission::kAbuse,
                           .proxy_header = proxy_header,
                           .pending = std::move(l.pending_),  // the connection gives it back
                           .anonymous = l.shared_};
  acquire()->start(std::move(client), peer, service, l.snapshot_, std::move(how));
}

void TcpWorker::log_denied(AccessRing& ring, const Service& service, const SocketAddress& peer) {
  AccessRecord* r = ring.claim();
  if (!r) return;  // counted as dropped
  r->unix_ns = wall_clock_ns();
  r->duration_us = 0;
  r->connect_us = -1;
  r->bytes_in = r->bytes_out = 0;
  r->service = &service.name();
  r->client = peer;
  r->backend = SocketAddress();
  r->failovers = 0;
  r->reason = CloseReason::kAcl;
  r->protocol = Protocol::kTcp;
  r->request_len = 0;
  ring.publish();
}

void TcpWorker::close_drain_stragglers_at(std::shared_ptr<Backend> backend, uint64_t generation,
                                          MonoTime deadline) {
  drain_deadlines_.add(std::move(backend), generation, deadline);
}

void TcpWorker::close_connections_to(const Backend& backend) {
  for (auto& c : pool_) {
    if (c->relay_backend() == &backend) c->close(CloseReason::kDrained);
  }
}

}  // namespace nib
