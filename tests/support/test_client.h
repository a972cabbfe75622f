#pragma once
// A blocking TCP client for tests: every call is bounded by the client's
// timeout (poll before each read and write), so a broken balancer fails a test
// instead of hanging it.
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/net/socket_address.h"

namespace nib::test {

using namespace std::chrono_literals;

struct HttpResponse {
  int status = 0;
  std::string head;  // status line and headers, without the final blank line
  std::string body;
};

class TestClient {
 public:
  // Binds source_ip (port 0) before connecting, so distinct clients can be
  // distinct source addresses: 127.0.0.2, 127.0.0.3, ... An empty source_ip
  // lets the kernel choose; the default 127.0.0.1 is skipped for IPv6 targets.
  // Errors: kUnavailable (refused, unreachable, timed out), kInvalidArgument.
  static Result<TestClient> connect(const SocketAddress& to,
                                    const std::string& source_ip = "127.0.0.1",
                                    Duration timeout = 5s);

  // A client of a Unix stream socket at `path` (a service's listen path).
  // Errors: kUnavailable (no listener, refused), kInvalidArgument.
  static Result<TestClient> connect_unix(const std::string& path, Duration timeout = 5s);

  TestClient(TestClient&&) noexcept = default;
  TestClient& operator=(TestClient&&) noexcept = default;

  // Each read waits at most timeout() overall. Errors: see is_timeout() and
  // is_closed(). Data read but not returned (an incomplete line) stays buffered.
  // One line without its "\n" (and without a "\r" before it).
  Result<std::string> read_line();
  Result<std::string> read_exact(size_t n);
  // Everything up to the peer's EOF (a reset is an error).
  Result<std::string> read_until_eof();
  // Everything up to the peer's close, and whether that close was a reset
  // (how Pen's control port marks a failed command).
  struct Closed {
    std::string text;
    bool reset = false;
  };
  Result<Closed> read_until_close();
  // Writes `data` and half-closes from a second thread while reading until
  // EOF, so an echoing peer cannot deadlock on full buffers both ways.
  Result<std::string> write_all_and_read_until_eof(std::string_view data);
  // Whatever is available, waiting for at least one byte; "" at EOF.
  Result<std::string> read_some();
  // One HTTP/1.x response framed by Content-Length (or by EOF without one).
  Result<HttpResponse> read_http_response();

  Status write_all(std::string_view data);
  void shutdown_write();
  // Closes now (a reset when unread data is pending).
  void close() { fd_.reset(); }

  int fd() const { return fd_.get(); }
  SocketAddress local_address() const;
  Duration timeout() const { return timeout_; }
  void set_timeout(Duration t) { timeout_ = t; }

 private:
  TestClient(UniqueFd fd, Duration timeout) : fd_(std::move(fd)), timeout_(timeout) {}
  // Appends what arrives (waiting until deadline) to buffer_. Ok with
  // *eof = true when the peer closed.
  Status fill(MonoTime deadline, bool* eof);

  UniqueFd fd_;
  Duration timeout_;
  std::string buffer_;  // read from the socket, not yet returned
};

// A timeout error from TestClient (as opposed to a close or a reset).
bool is_timeout(const Status& s);
// The peer closed (EOF where data was expected) or reset the connection.
bool is_closed(const Status& s);

// Connects from source_ip, reads the greeting line and returns the backend
// name. An error when the connection closes without a greeting.
// Sends `payload` from `source_ip` (port 0) to `to` until a datagram comes
// back, at most `attempts` times, waiting up to a second each: the reply, or
// "" when none came (the first datagrams may race a balancer's start, or
// wait for its ARP).
std::string udp_exchange(const std::string& source_ip, const SocketAddress& to, std::string_view payload,
                         int attempts = 10);

// The value of `series` in a Prometheus text body: a metric name alone (its
// first sample, whatever its labels) or with its labels as /metrics writes
// them. -1 when it is not there.
double metric_sample(std::string_view body, const std::string& series);
// GET /metrics from the admin HTTP at `admin`, then metric_sample(); -1 when
// nib does not answer.
double scrape_metric(const SocketAddress& admin, const std::string& series);

Result<std::string> who_serves(const SocketAddress& lb, const std::string& source_ip = "127.0.0.1",
                               Duration timeout = 5s);

// One HTTP/1.1 request on its own connection ("Connection: close"); a body is
// sent as application/json.
Result<HttpResponse> http_request(const SocketAddress& to, const std::string& method, const std::string& target,
                                  const std::string& body = "", Duration timeout = 5s);

// Polls pred with 1-5 ms waits until it holds or timeout passes; returns its
// last value. The one place tests may sleep.
bool wait_until(const std::function<bool()>& pred, Duration timeout = 5s);

// What penctl(1) does: connect from `source_ip`, send `bytes` (the command
// line with its newline), read to the server's close.
Result<TestClient::Closed> control_command(const SocketAddress& to, std::string_view bytes,
                                           const std::string& source_ip = "127.0.0.1");
// `size` pseudo-random bytes from `seed`: a payload in which a lost or
// reordered byte shows.
std::string random_bytes(size_t size, uint64_t seed);

}  // namespace nib::test
