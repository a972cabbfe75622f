#include "server/demo_backend.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace nib {
namespace {

constexpr uint64_t kListenerTag = 1;
constexpr uint64_t kWakeTag = 2;
constexpr size_t kMaxHead = 16 << 10;
// Stop reading from a client that does not read its replies (pipelining).
constexpr size_t kMaxPending = 256 << 10;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string response(int code, std::string_view reason, std::string_view body, bool keep_alive,
                     bool http10, bool head_only) {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " " + std::string(reason) +
                  "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\n";
  if (!keep_alive) {
    r += "Connection: close\r\n";
  } else if (http10) {
    r += "Connection: keep-alive\r\n";  // HTTP/1.0 closes unless told otherwise
  }
  r += "\r\n";
  if (!head_only) r += body;
  return r;
}

}  // namespace

struct DemoBackend::Conn {
  UniqueFd fd;
  size_t index = 0;  // position in conns_, for O(1) removal
  std::string in;
  uint64_t body_left = 0;  // request body bytes still to skip
  std::string out;
  size_t out_off = 0;
  uint32_t interest = 0;
  bool peer_eof = false;
  bool close_after_flush = false;
  bool write_shut = false;

  size_t pending() const { return out.size() - out_off; }
};

DemoBackend::DemoBackend(std::string name, uint16_t port) : name_(std::move(name)), port_(port) {}

DemoBackend::~DemoBackend() { stop(); }

Status DemoBackend::start() {
  if (running()) return {};
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Status::internal(std::string("demo backend: socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Status::unavailable("demo backend " + name_ + ": bind 127.0.0.1:" + std::to_string(port_) +
                               ": " + std::strerror(errno));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    return Status::internal(std::string("demo backend: listen: ") + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  body_ = "hello from nib demo backend " + name_ + " (127.0.0.1:" + std::to_string(port_) + ")\n";

  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  UniqueFd wake(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!ep || !wake) {
    return Status::internal(std::string("demo backend: epoll/eventfd: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenerTag;
  ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev);
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, wake.get(), &ev);
  listener_ = std::move(fd);
  epoll_ = std::move(ep);
  wake_ = std::move(wake);
  listener_paused_ = false;
  stopping_.store(false);
  thread_ = std::thread([this] { run(); });
  return {};
}

void DemoBackend::stop() {
  if (!running()) return;
  stopping_.store(true);
  uint64_t one = 1;
  ssize_t ignored = ::write(wake_.get(), &one, sizeof one);
  (void)ignored;
  thread_.join();
  listener_.reset();
  conns_.clear();
  epoll_.reset();
  wake_.reset();
}

void DemoBackend::run() {
  epoll_event events[128];
  while (!stopping_.load()) {
    int n = ::epoll_wait(epoll_.get(), events, 128, -1);
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
  }
}

void DemoBackend::set_listener_interest(bool on) {
  epoll_event ev{};
  ev.events = on ? static_cast<uint32_t>(EPOLLIN) : 0u;
  ev.data.u64 = kListenerTag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, listener_.get(), &ev);
  listener_paused_ = !on;
}

void DemoBackend::accept_all() {
  for (;;) {
    int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of fds: a level-triggered listener would spin, so stop listening
      // for readiness until a connection closes.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        set_listener_interest(false);
      }
      return;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->fd.reset(fd);
    c->index = conns_.size();
    c->interest = EPOLLIN;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c.get();
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) continue;  // c closes fd
    conns_.push_back(std::move(c));
  }
}

void DemoBackend::on_event(Conn* c, uint32_t events) {
  if (events & EPOLLERR) {
    close_conn(c);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP)) {
    char buf[16384];
    for (int round = 0; round < 8 && !c->peer_eof; ++round) {
      if (!c->write_shut && c->pending() >= kMaxPending) break;
      ssize_t n = ::recv(c->fd.get(), buf, sizeof buf, 0);
      if (n > 0) {
        // After the last reply the rest is only drained, so that closing does
        // not reset the connection under the reply.
        if (!c->close_after_flush) c->in.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) {
        c->peer_eof = true;
        break;
      }
      if (errno == EAGAIN || errno == EINTR) break;
      close_conn(c);
      return;
    }
    parse_requests(c);
  }
  if (!flush(c)) return;
  settle(c);
}

void DemoBackend::parse_requests(Conn* c) {
  while (!c->close_after_flush && c->pending() < kMaxPending) {
    if (c->body_left > 0) {
      size_t skip = static_cast<size_t>(std::min<uint64_t>(c->body_left, c->in.size()));
      c->in.erase(0, skip);
      c->body_left -= skip;
      if (c->body_left > 0) return;
    }
    size_t end = c->in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c->in.size() > kMaxHead) {
        c->out += response(431, "Request Header Fields Too Large", "request head too large\n", false,
                           false, false);
        c->close_after_flush = true;
      }
      return;
    }
    std::string_view head(c->in.data(), end);
    size_t line_end = head.find("\r\n");
    std::string_view request_line = head.substr(0, line_end);
    size_t sp1 = request_line.find(' ');
    size_t sp2 = request_line.rfind(' ');
    std::string_view version =
        sp2 == std::string_view::npos ? std::string_view() : request_line.substr(sp2 + 1);
    if (sp1 == std::string_view::npos || sp1 == sp2 || version.substr(0, 7) != "HTTP/1.") {
      c->out += response(400, "Bad Request", "bad request\n", false, false, false);
      c->close_after_flush = true;
      return;
    }
    bool head_only = request_line.substr(0, sp1) == "HEAD";
    bool http10 = version == "HTTP/1.0";
    bool keep_alive = !http10;
    bool chunked = false;
    uint64_t content_length = 0;
    bool bad_length = false;
    size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t eol = head.find("\r\n", pos);
      if (eol == std::string_view::npos) eol = head.size();
      std::string_view line = head.substr(pos, eol - pos);
      pos = eol + 2;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string field = lower(trim(line.substr(0, colon)));
      std::string value = lower(trim(line.substr(colon + 1)));
      if (field == "connection") {
        if (value.find("close") != std::string::npos) keep_alive = false;
        if (value.find("keep-alive") != std::string::npos && http10) keep_alive = true;
      } else if (field == "content-length") {
        char* endp = nullptr;
        content_length = std::strtoull(value.c_str(), &endp, 10);
        bad_length = value.empty() || *endp != '\0';
      } else if (field == "transfer-encoding") {
        chunked = value != "identity";
      }
    }
    if (bad_length) {
      c->out += response(400, "Bad Request", "bad content-length\n", false, false, false);
      c->close_after_flush = true;
      return;
    }
    // A chunked body is not parsed: the next request cannot be found after it.
    if (chunked) keep_alive = false;
    c->out += response(200, "OK", body_, keep_alive, http10, head_only);
    requests_.fetch_add(1, std::memory_order_relaxed);
    c->in.erase(0, end + 4);
    c->body_left = content_length;
    if (!keep_alive) {
      c->close_after_flush = true;
      c->in.clear();
    }
  }
}

// Writes what is pending; false when the connection was closed on an error.
bool DemoBackend::flush(Conn* c) {
  while (c->pending() > 0) {
    ssize_t n = ::send(c->fd.get(), c->out.data() + c->out_off, c->pending(), MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    close_conn(c);
    return false;
  }
  if (c->out_off == c->out.size()) {
    c->out.clear();
    c->out_off = 0;
  } else if (c->out_off > c->out.size() / 2) {
    c->out.erase(0, c->out_off);
    c->out_off = 0;
  }
  return true;
}

void DemoBackend::settle(Conn* c) {
  // Requests held back by back-pressure become answerable as output drains.
  if (!c->close_after_flush && c->pending() < kMaxPending && c->in.find("\r\n\r\n") != std::string::npos) {
    parse_requests(c);
    if (!flush(c)) return;
  }
  if (c->pending() == 0 && !c->write_shut && (c->peer_eof || c->close_after_flush)) {
    ::shutdown(c->fd.get(), SHUT_WR);
    c->write_shut = true;
  }
  if (c->write_shut && c->peer_eof) {
    close_conn(c);
    return;
  }
  uint32_t want = 0;
  if (!c->peer_eof && (c->write_shut || c->pending() < kMaxPending)) want |= EPOLLIN;
  if (c->pending() > 0) want |= EPOLLOUT;
  if (want != c->interest) {
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = c;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c->fd.get(), &ev);
    c->interest = want;
  }
}

void DemoBackend::close_conn(Conn* c) {
  size_t i = c->index;
  if (i + 1 != conns_.size()) {
    std::swap(conns_[i], conns_.back());
    conns_[i]->index = i;
  }
  conns_.pop_back();
  if (listener_paused_) set_listener_interest(true);
}

}  // namespace nib
