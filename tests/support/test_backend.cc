#include "tests/support/test_backend.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace nib::test {
namespace {

constexpr uint64_t kListenerTag = 1;
constexpr uint64_t kWakeTag = 2;
// Stop reading while this much output is pending: back-pressure to the peer
// instead of buffering a multi-MiB transfer in memory.
constexpr size_t kMaxPending = 1 << 20;
constexpr size_t kMaxHttpHeader = 64 << 10;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// Whether the server must close after answering this request head.
bool wants_close(std::string_view head) {
  std::string h = lower(head);
  size_t eol = h.find("\r\n");
  std::string_view request_line = std::string_view(h).substr(0, eol);
  bool http10 = request_line.find("http/1.0") != std::string_view::npos;
  size_t pos = 0;
  while ((pos = h.find("\r\nconnection:", pos)) != std::string::npos) {
    size_t end = h.find("\r\n", pos + 2);
    std::string_view value = std::string_view(h).substr(pos + 13, end - pos - 13);
    if (value.find("close") != std::string_view::npos) return true;
    if (value.find("keep-alive") != std::string_view::npos) http10 = false;
    pos = end;
  }
  return http10;
}

}  // namespace

struct TestBackend::Conn {
  UniqueFd fd;
  BackendMode mode;
  size_t index = 0;  // position in conns_, for O(1) removal
  std::string in;    // kHttp: bytes of an incomplete request head
  std::string out;   // pending output from out_off on
  size_t out_off = 0;
  uint32_t interest = 0;
  bool peer_eof = false;
  bool close_after_flush = false;  // kHttp "Connection: close"
  bool write_shut = false;
  bool peer_gone_counted = false;
  bool closed = false;  // freed after the current epoll batch
  Duration delay{};           // set_reply_delay() at accept time
  MonoTime hold_until{};      // output waits until then (delay > 0 only)

  size_t pending() const { return out.size() - out_off; }
};

TestBackend::TestBackend(std::string name, BackendMode mode, std::string ip, uint16_t port)
    : name_(std::move(name)), ip_(std::move(ip)), port_(port), mode_(mode) {
  Status st = start();
  if (!st.ok()) throw std::runtime_error("TestBackend " + name_ + ": " + st.message());
}

TestBackend::~TestBackend() { stop(); }

SocketAddress TestBackend::address() const {
  auto a = SocketAddress::from_ip(ip_, port_);
  return a.ok() ? *a : SocketAddress();
}

bool TestBackend::running() const { return running_.load(); }

std::vector<std::string> TestBackend::peer_ips() const {
  std::lock_guard<std::mutex> lock(peers_mu_);
  return peer_ips_;
}

Status TestBackend::start() {
  std::lock_guard<std::mutex> lock(control_mu_);
  if (running_.load()) return {};
  auto addr = SocketAddress::from_ip(ip_, port_);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(::socket(addr->family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Status::internal(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), addr->sockaddr_ptr(), addr->length()) != 0) {
    return Status::unavailable("bind " + addr->to_string() + ": " + std::strerror(errno));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    return Status::internal(std::string("listen: ") + std::strerror(errno));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = SocketAddress(reinterpret_cast<sockaddr*>(&ss), len).port();

  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!ep || !wake) return Status::internal(std::string("epoll/eventfd: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev);
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake.get(), &ev);

  listener_ = std::move(fd);
  epoll_ = std::move(ep);
  wake_ = std::move(wake);
  stopping_.store(false);
  running_.store(true);
  thread_ = std::thread([this] { run(); });
  return {};
}

void TestBackend::stop() {
  std::lock_guard<std::mutex> lock(control_mu_);
  if (!running_.load()) return;
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_.get(), &one, sizeof one);
  (void)ignored;
  thread_.join();
  // The loop has exited: its state is ours now. Listener first, so that from
  // here on connects are refused.
  listener_.reset();
  conns_.clear();
  graveyard_.clear();
  active_.store(0);
  epoll_.reset();
  wake_.reset();
  running_.store(false);
}

void TestBackend::run() {
  epoll_event events[256];
  while (!stopping_.load()) {
    int n = ::epoll_wait(epoll_.get(), events, 256, release_held());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n && !stopping_.load(); ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) break;
      if (tag == kListenerTag) {
        accept_all();
      } else {
        on_event(static_cast<Conn*>(events[i].data.ptr), events[i].events);
      }
    }
    graveyard_.clear();
  }
}

void TestBackend::accept_all() {
  for (;;) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or EMFILE & co: retried on the next wakeup
    auto c = std::make_unique<Conn>();
    c->fd.reset(fd);
    c->mode = mode_.load();
    c->delay = Duration(delay_ns_.load());
    ever_delayed_ = ever_delayed_ || c->delay > Duration::zero();
    int one = 1;
    // Small echoes must not wait on Nagle + delayed ACK.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    {
      std::lock_guard<std::mutex> lock(peers_mu_);
      peer_ips_.push_back(SocketAddress(reinterpret_cast<sockaddr*>(&ss), len).ip_string());
    }
    accepted_.fetch_add(1);
    active_.fetch_add(1);
    c->index = conns_.size();
    Conn* raw = c.get();
    conns_.push_back(std::move(c));
    epoll_event ev{};
    ev.events = 0;
    ev.data.ptr = raw;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
    if (raw->mode == BackendMode::kReset) {
      reset_conn(raw);
      continue;
    }
    if (raw->mode == BackendMode::kEcho) raw->out = name_ + "\n";
    if (!flush(raw)) continue;
    settle(raw);
  }
}

void TestBackend::on_event(Conn* c, uint32_t events) {
  if (c->closed) return;
  // EPOLLHUP after the peer's EOF means our side is shut too (a reset):
  // nothing more can happen on this connection.
  if ((events & EPOLLERR) || ((events & EPOLLHUP) && c->peer_eof)) {
    note_peer_gone(c);
    close_conn(c);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP)) {
    char buf[65536];
    // A few reads per wakeup keep one busy connection from starving the rest.
    for (int round = 0; round < 16 && !c->peer_eof; ++round) {
      if (!c->write_shut && c->pending() >= kMaxPending) break;
      ssize_t n = ::recv(c->fd.get(), buf, sizeof buf, 0);
      if (n > 0) {
        handle_input(c, buf, static_cast<size_t>(n));
        if (c->closed) return;  // kResetOnData, kCloseOnData
        continue;
      }
      if (n == 0) {
        c->peer_eof = true;
        note_peer_gone(c);
        break;
      }
      if (errno == EAGAIN || errno == EINTR) break;
      note_peer_gone(c);  // reset
      close_conn(c);
      return;
    }
  }
  if (!flush(c)) return;
  settle(c);
}

void TestBackend::handle_input(Conn* c, const char* data, size_t n) {
  switch (c->mode) {
    case BackendMode::kSilent:
    case BackendMode::kReset:
      return;
    case BackendMode::kResetOnData:
      reset_conn(c);
      return;
    case BackendMode::kCloseOnData:
      close_conn(c);
      return;
    case BackendMode::kEcho:
      if (!c->write_shut) c->out.append(data, n);
      return;
    case BackendMode::kHttp:
    case BackendMode::kHttpError:
      if (c->close_after_flush) return;  // draining after the last reply
      c->in.append(data, n);
      for (;;) {
        size_t end = c->in.find("\r\n\r\n");
        if (end == std::string::npos) {
          if (c->in.size() > kMaxHttpHeader) c->close_after_flush = true;
          return;
        }
        bool close = wants_close(std::string_view(c->in).substr(0, end));
        std::string body = name_ + "\n";
        c->out += std::string(c->mode == BackendMode::kHttpError ? "HTTP/1.1 500 Internal Server Error"
                                                                 : "HTTP/1.1 200 OK") +
                  "\r\nContent-Type: text/plain\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n" +
                  (close ? "Connection: close\r\n" : "") + "\r\n" + body;
        http_requests_.fetch_add(1);
        c->in.erase(0, end + 4);
        if (close) {
          c->close_after_flush = true;
          c->in.clear();
          return;
        }
      }
  }
}

// Writes what is pending; false when the connection was closed on an error.
bool TestBackend::flush(Conn* c) {
  if (c->closed) return false;
  if (c->delay > Duration::zero() && c->pending() > 0) {
    // A slow server: output that appears waits for the delay, counted from
    // when it appeared (the first pending byte).
    MonoTime now = MonoClock::now();
    if (c->hold_until == MonoTime{}) c->hold_until = now + c->delay;
    if (now < c->hold_until) return true;
  }
  while (c->pending() > 0) {
    ssize_t n = ::send(c->fd.get(), c->out.data() + c->out_off, c->pending(), MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    note_peer_gone(c);
    close_conn(c);
    return false;
  }
  if (c->out_off == c->out.size()) {
    c->out.clear();
    c->out_off = 0;
    c->hold_until = MonoTime{};
  } else if (c->out_off > c->out.size() / 2) {
    c->out.erase(0, c->out_off);
    c->out_off = 0;
  }
  return true;
}

// Decides what comes next for c once its input is consumed and output flushed.
void TestBackend::settle(Conn* c) {
  if (c->closed) return;
  if (c->mode != BackendMode::kSilent && c->pending() == 0 && !c->write_shut &&
      (c->peer_eof || c->close_after_flush)) {
    ::shutdown(c->fd.get(), SHUT_WR);
    c->write_shut = true;
  }
  // Closing only after the peer's EOF too: closing with unread input would
  // send a reset that can destroy the reply in flight.
  if (c->write_shut && c->peer_eof) {
    close_conn(c);
    return;
  }
  uint32_t want = 0;
  if (!c->peer_eof && (c->write_shut || c->pending() < kMaxPending)) want |= EPOLLIN;
  // Held output asks for no EPOLLOUT (level-triggered: it would spin);
  // release_held() sends it.
  const bool held = c->hold_until != MonoTime{} && MonoClock::now() < c->hold_until;
  if (c->pending() > 0 && !held) want |= EPOLLOUT;
  if (want != c->interest) {
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = c;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c->fd.get(), &ev);
    c->interest = want;
  }
}

void TestBackend::note_peer_gone(Conn* c) {
  if (c->peer_gone_counted) return;
  c->peer_gone_counted = true;
  closed_by_peer_.fetch_add(1);
}

void TestBackend::close_conn(Conn* c) {
  // Explicitly leave the epoll set: a child forked at this moment holds a copy
  // of the descriptor, and close() alone would keep it registered.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c->fd.get(), nullptr);
  size_t i = c->index;
  if (i + 1 != conns_.size()) {
    std::swap(conns_[i], conns_.back());
    conns_[i]->index = i;
  }
  c->fd.reset();
  c->closed = true;
  // Freed after the batch: a later event of the same batch may still name it.
  graveyard_.push_back(std::move(conns_.back()));
  conns_.pop_back();
  active_.fetch_sub(1);
}

void TestBackend::reset_conn(Conn* c) {
  linger l{1, 0};  // close() sends RST
  ::setsockopt(c->fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close_conn(c);
}

int TestBackend::release_held() {
  if (!ever_delayed_) return -1;  // the common case costs nothing
  MonoTime now = MonoClock::now();
  MonoTime next = MonoTime::max();
  for (size_t i = 0; i < conns_.size(); ++i) {
    Conn* c = conns_[i].get();
    if (c->hold_until == MonoTime{}) continue;
    if (c->hold_until <= now) {
      if (flush(c)) settle(c);
      if (c->closed) --i;  // swapped with the last one
      continue;
    }
    next = std::min(next, c->hold_until);
  }
  graveyard_.clear();
  if (next == MonoTime::max()) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
  return static_cast<int>(std::min<int64_t>(ms, 1000));
}

}  // namespace nib::test
