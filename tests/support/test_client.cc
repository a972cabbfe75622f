#include "tests/support/test_client.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

namespace nib::test {
namespace {

constexpr char kTimeoutPrefix[] = "timeout";
constexpr char kClosedPrefix[] = "connection closed";
constexpr char kResetPrefix[] = "connection reset";

Status timeout_error(std::string_view what) {
  return Status::unavailable(std::string(kTimeoutPrefix) + " " + std::string(what));
}

Status closed_error(std::string_view what) {
  return {StatusCode::kFailedPrecondition, std::string(kClosedPrefix) + " by peer " + std::string(what)};
}

// poll() timeout in ms for the time left until deadline, rounded up so a
// positive remainder never becomes a busy 0.
int poll_ms(MonoTime deadline) {
  auto left = deadline - MonoClock::now();
  if (left <= Duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

// Waits for events on fd; 0 on timeout, otherwise the revents.
int wait_fd(int fd, short events, MonoTime deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, poll_ms(deadline));
    if (rc > 0) return p.revents;
    if (rc == 0) return 0;
    if (errno != EINTR) return POLLERR;
  }
}

}  // namespace

bool is_timeout(const Status& s) {
  return s.code() == StatusCode::kUnavailable && s.message().rfind(kTimeoutPrefix, 0) == 0;
}

bool is_closed(const Status& s) {
  return s.code() == StatusCode::kFailedPrecondition &&
         (s.message().rfind(kClosedPrefix, 0) == 0 || s.message().rfind(kResetPrefix, 0) == 0);
}

Result<TestClient> TestClient::connect(const SocketAddress& to, const std::string& source_ip,
                                       Duration timeout) {
  if (!to.valid()) return Status::invalid("TestClient::connect: invalid address");
  UniqueFd fd(::socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Status::internal(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (!source_ip.empty()) {
    auto src = SocketAddress::from_ip(source_ip, 0);
    if (!src.ok()) return src.status();
    bool default_source = source_ip == "127.0.0.1";
    if (src->family() != to.family() && !default_source) {
      return Status::invalid("source " + source_ip + " and target " + to.to_string() +
                             " are different address families");
    }
    if (src->family() == to.family()) {
      // Choose the port at connect time: thousands of clients from one source
      // IP would otherwise exhaust bind()'s stricter port allocation.
      ::setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (::bind(fd.get(), src->sockaddr_ptr(), src->length()) != 0) {
        return Status::unavailable("bind " + source_ip + ": " + std::strerror(errno));
      }
    }
  }
  MonoTime deadline = MonoClock::now() + timeout;
  if (::connect(fd.get(), to.sockaddr_ptr(), to.length()) != 0) {
    if (errno != EINPROGRESS) {
      return Status::unavailable("connect " + to.to_string() + ": " + std::strerror(errno));
    }
    if (wait_fd(fd.get(), POLLOUT, deadline) == 0) {
      return timeout_error("connecting to " + to.to_string());
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Status::unavailable("connect " + to.to_string() + ": " + std::strerror(err));
  }
  // Blocking from here on, for tests that use fd() directly; our own calls use
  // MSG_DONTWAIT after poll().
  int flags = ::fcntl(fd.get(), F_GETFL);
  ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return TestClient(std::move(fd), timeout);
}

Result<TestClient> TestClient::connect_unix(const std::string& path, Duration timeout) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path) return Status::invalid("connect_unix: bad path " + path);
  std::memcpy(a.sun_path, path.data(), path.size());
  // Blocking: a Unix connect completes (or fails) at once, or waits only
  // while the listener's backlog is full, which these tests never fill.
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::internal(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    return Status::unavailable("connect " + path + ": " + std::strerror(errno));
  }
  return TestClient(std::move(fd), timeout);
}

Status TestClient::fill(MonoTime deadline, bool* eof) {
  *eof = false;
  if (!fd_) return Status(StatusCode::kFailedPrecondition, std::string(kClosedPrefix) + " locally");
  for (;;) {
    char buf[65536];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      return {};
    }
    if (n == 0) {
      *eof = true;
      return {};
    }
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) {
      return {StatusCode::kFailedPrecondition, kResetPrefix + std::string(" by peer")};
    }
    if (errno != EAGAIN) return Status::internal(std::string("recv: ") + std::strerror(errno));
    if (wait_fd(fd_.get(), POLLIN, deadline) == 0) return timeout_error("waiting for data");
  }
}

Result<std::string> TestClient::read_line() {
  MonoTime deadline = MonoClock::now() + timeout_;
  size_t scanned = 0;
  for (;;) {
    size_t nl = buffer_.find('\n', scanned);
    if (nl != std::string::npos) {
      size_t len = (nl > 0 && buffer_[nl - 1] == '\r') ? nl - 1 : nl;
      std::string line = buffer_.substr(0, len);
      buffer_.erase(0, nl + 1);
      return line;
    }
    scanned = buffer_.size();
    bool eof = false;
    Status st = fill(deadline, &eof);
    if (!st.ok()) return st;
    if (eof) return closed_error("before the end of a line");
  }
}

Result<std::string> TestClient::read_exact(size_t n) {
  MonoTime deadline = MonoClock::now() + timeout_;
  while (buffer_.size() < n) {
    bool eof = false;
    Status st = fill(deadline, &eof);
    if (!st.ok()) return st;
    if (eof) {
      return closed_error("after " + std::to_string(buffer_.size()) + " of " + std::to_string(n) +
                          " bytes");
    }
  }
  std::string out = buffer_.substr(0, n);
  buffer_.erase(0, n);
  return out;
}

Result<std::string> TestClient::write_all_and_read_until_eof(std::string_view data) {
  Status write_status;
  std::thread writer([&] {
    write_status = write_all(data);
    shutdown_write();
  });
  auto read = read_until_eof();
  writer.join();
  if (!write_status.ok()) return write_status;
  return read;
}

Result<std::string> TestClient::read_until_eof() {
  MonoTime deadline = MonoClock::now() + timeout_;
  for (;;) {
    bool eof = false;
    Status st = fill(deadline, &eof);
    if (!st.ok()) return st;
    if (eof) return std::exchange(buffer_, {});
  }
}

Result<TestClient::Closed> TestClient::read_until_close() {
  MonoTime deadline = MonoClock::now() + timeout_;
  for (;;) {
    bool eof = false;
    Status st = fill(deadline, &eof);
    if (!st.ok() && st.message().rfind(kResetPrefix, 0) == 0) return Closed{std::exchange(buffer_, {}), true};
    if (!st.ok()) return st;
    if (eof) return Closed{std::exchange(buffer_, {}), false};
  }
}

Result<std::string> TestClient::read_some() {
  if (!buffer_.empty()) return std::exchange(buffer_, {});
  bool eof = false;
  Status st = fill(MonoClock::now() + timeout_, &eof);
  if (!st.ok()) return st;
  return std::exchange(buffer_, {});
}

Result<HttpResponse> TestClient::read_http_response() {
  MonoTime deadline = MonoClock::now() + timeout_;
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    bool eof = false;
    Status st = fill(deadline, &eof);
    if (!st.ok()) return st;
    if (eof) return closed_error("before the end of the response head");
  }
  HttpResponse r;
  r.head = buffer_.substr(0, head_end);
  buffer_.erase(0, head_end + 4);
  // "HTTP/1.1 200 OK"
  size_t sp = r.head.find(' ');
  if (r.head.rfind("HTTP/", 0) != 0 || sp == std::string::npos) {
    return Status::invalid("not an HTTP response: " + r.head.substr(0, 80));
  }
  r.status = std::atoi(r.head.c_str() + sp + 1);
  std::string lower = r.head;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  size_t cl = lower.find("\r\ncontent-length:");
  if (cl == std::string::npos) {
    auto rest = read_until_eof();
    if (!rest.ok()) return rest.status();
    r.body = std::move(*rest);
    return r;
  }
  size_t length = std::strtoull(lower.c_str() + cl + 17, nullptr, 10);
  auto body = read_exact(length);
  if (!body.ok()) return body.status();
  r.body = std::move(*body);
  return r;
}

Status TestClient::write_all(std::string_view data) {
  if (!fd_) return Status(StatusCode::kFailedPrecondition, std::string(kClosedPrefix) + " locally");
  MonoTime deadline = MonoClock::now() + timeout_;
  while (!data.empty()) {
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (wait_fd(fd_.get(), POLLOUT, deadline) == 0) {
        return timeout_error("writing (" + std::to_string(data.size()) + " bytes left)");
      }
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) {
      return {StatusCode::kFailedPrecondition, kResetPrefix + std::string(" while writing")};
    }
    return Status::internal(std::string("send: ") + std::strerror(errno));
  }
  return {};
}

void TestClient::shutdown_write() {
  if (fd_) ::shutdown(fd_.get(), SHUT_WR);
}

SocketAddress TestClient::local_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (!fd_ || ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

std::string udp_exchange(const std::string& source_ip, const SocketAddress& to, std::string_view payload,
                         int attempts) {
  UniqueFd fd(::socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto from = SocketAddress::from_ip(source_ip, 0);
  if (!fd || !from.ok() || ::bind(fd.get(), from->sockaddr_ptr(), from->length()) != 0) return "";
  timeval tv{.tv_sec = 1, .tv_usec = 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    if (::sendto(fd.get(), payload.data(), payload.size(), 0, to.sockaddr_ptr(), to.length()) < 0) return "";
    char buf[65536];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) return std::string(buf, static_cast<size_t>(n));
  }
  return "";
}

double metric_sample(std::string_view body, const std::string& series) {
  for (size_t at = body.find(series); at != std::string_view::npos; at = body.find(series, at + 1)) {
    const size_t after = at + series.size();
    if ((at != 0 && body[at - 1] != '\n') || after >= body.size() || (body[after] != ' ' && body[after] != '{')) continue;
    const size_t end = std::min(body.find('\n', after), body.size());
    const size_t space = body.rfind(' ', end);
    return std::stod(std::string(body.substr(space + 1, end - space - 1)));
  }
  return -1;
}

double scrape_metric(const SocketAddress& admin, const std::string& series) {
  auto r = http_request(admin, "GET", "/metrics");
  return r.ok() ? metric_sample(r->body, series) : -1;
}

Result<std::string> who_serves(const SocketAddress& lb, const std::string& source_ip,
                               Duration timeout) {
  auto client = TestClient::connect(lb, source_ip, timeout);
  if (!client.ok()) return client.status();
  auto line = client->read_line();
  if (!line.ok()) {
    // The original message stays first: is_timeout() and is_closed() read it.
    return Status(line.status().code(), line.status().message() + " (no greeting from " +
                                            lb.to_string() + ", source " + source_ip + ")");
  }
  return line;
}

Result<HttpResponse> http_request(const SocketAddress& to, const std::string& method, const std::string& target,
                                  const std::string& body, Duration timeout) {
  auto client = TestClient::connect(to, "127.0.0.1", timeout);
  if (!client.ok()) return client.status();
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + to.to_string() + "\r\nConnection: close\r\n";
  if (!body.empty()) {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  if (Status st = client->write_all(request + "\r\n" + body); !st.ok()) return st;
  return client->read_http_response();
}

std::string random_bytes(size_t size, uint64_t seed) {
  std::string data(size, '\0');
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= size; i += 8) {
    uint64_t v = rng();
    std::memcpy(&data[i], &v, 8);
  }
  return data;
}

bool wait_until(const std::function<bool()>& pred, Duration timeout) {
  MonoTime deadline = MonoClock::now() + timeout;
  auto pause = 1ms;
  for (;;) {
    if (pred()) return true;
    if (MonoClock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::milliseconds>(pause + 1ms, 5ms);
  }
}

Result<TestClient::Closed> control_command(const SocketAddress& to, std::string_view bytes,
                                           const std::string& source_ip) {
  auto c = TestClient::connect(to, source_ip);
  if (!c.ok()) return c.status();
  if (Status st = c->write_all(bytes); !st.ok()) return st;
  return c->read_until_close();
}

}  // namespace nib::test
