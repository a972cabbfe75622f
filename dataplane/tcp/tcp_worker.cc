#include "dataplane/tcp/tcp_worker.h"

#include <pthread.h>
#include <sys/socket.h>

#include <csignal>

#include <cerrno>
#include <future>

#include "dataplane/base/log.h"

namespace nib {
namespace {
constexpr int kAcceptBatch = 64;      // per wake-up, so one busy listener cannot starve the rest
constexpr size_t kIdleBuffers = 256;  // idle relay buffers kept for reuse
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
}  // namespace

TcpWorker::Listener::Listener(TcpWorker& w, Service& s, UniqueFd fd)
    : worker_(w), service_(s), fd_(std::move(fd)), resume_timer_([this] { resume(); }) {}

void TcpWorker::Listener::pause() {
  if (!registered_) return;
  worker_.loop_.remove(fd_.get());
  registered_ = false;
  worker_.loop_.arm(resume_timer_, worker_.loop_.now() + kAcceptPause);
}

void TcpWorker::Listener::resume() {
  if (registered_ || !fd_) return;
  registered_ = worker_.loop_.add(fd_.get(), EPOLLIN, this).ok();
}

TcpWorker::TcpWorker(unsigned index, size_t pipe_limit, Clock& clock)
    : index_(index),
      loop_(clock),
      drain_deadlines_(loop_, [this](const Backend& b) { close_connections_to(b); }),
      pipes_(pipe_limit) {}

TcpWorker::~TcpWorker() { stop(); }

Status TcpWorker::init() { return loop_.init(); }

Status TcpWorker::add_listener(Service& service, UniqueFd listener) {
  auto l = std::make_unique<Listener>(*this, service, std::move(listener));
  // Level-triggered: a batch limit leaves the rest of the queue for the next wake-up.
  Status st = loop_.add(l->fd_.get(), EPOLLIN, l.get());
  if (!st.ok()) return st;
  l->registered_ = true;
  listeners_.push_back(std::move(l));
  return {};
}

void TcpWorker::start() {
  thread_ = std::thread([this] {
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
      loop_.cancel(l->resume_timer_);
      if (l->registered_) loop_.remove(l->fd_.get());
      l->registered_ = false;
      l->fd_.reset();
    }
  });
}

void TcpWorker::close_all() {
  loop_.post([this] {
    for (auto& c : pool_) {
      if (c->in_use()) c->close();
    }
  });
}

void TcpWorker::stop() {
  if (!thread_.joinable()) return;
  loop_.stop();
  thread_.join();
  for (auto& c : pool_) {
    if (c->in_use()) c->close();
  }
  recycle_retired();
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

std::unique_ptr<char[]> TcpWorker::take_buffer() {
  if (buffers_.empty()) return std::unique_ptr<char[]>(new char[kBufferSize]);
  auto b = std::move(buffers_.back());
  buffers_.pop_back();
  return b;
}

void TcpWorker::give_buffer(std::unique_ptr<char[]> buffer) {
  if (buffers_.size() < kIdleBuffers) buffers_.push_back(std::move(buffer));
}

void TcpWorker::retire(TcpConnection* connection) {
  retired_.push_back(connection);
  open_.fetch_sub(1, std::memory_order_relaxed);
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
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(l.fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting briefly instead of spinning on the
        // level-triggered listener; queued clients wait in the backlog.
        log_warn("service " + l.service_.name() + ": accept: out of file descriptors; pausing accepts");
        l.pause();
      }
      return;
    }
    admit(l, UniqueFd(fd), SocketAddress(reinterpret_cast<sockaddr*>(&ss), len));
  }
}

void TcpWorker::admit(Listener& l, UniqueFd client, const SocketAddress& peer) {
  Service& service = l.service_;
  uint64_t gen = service.registry().generation();
  if (!l.snapshot_ || gen != l.generation_) {
    l.snapshot_ = service.registry().snapshot();
    l.generation_ = l.snapshot_->generation;
  }
  service.count_accepted(index_);
  if (l.snapshot_->client_acl && !l.snapshot_->client_acl->permits(peer)) {
    service.count_rejected_acl(index_);
    return;  // closed right after accept, as Pen does with a denied client
  }
  if (!service.try_admit(l.snapshot_->max_connections)) {
    service.count_rejected_max(index_);
    return;  // the client is closed as `client` goes out of scope, as Pen does
  }
  open_.fetch_add(1, std::memory_order_relaxed);
  acquire()->start(std::move(client), peer, service, l.snapshot_);
}

void TcpWorker::close_drain_stragglers_at(std::shared_ptr<Backend> backend, uint64_t generation,
                                          MonoTime deadline) {
  drain_deadlines_.add(std::move(backend), generation, deadline);
}

void TcpWorker::close_connections_to(const Backend& backend) {
  for (auto& c : pool_) {
    if (c->relay_backend() == &backend) c->close();
  }
}

}  // namespace nib
