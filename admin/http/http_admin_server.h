#pragma once
// The admin plane's HTTP server: REST API, Server-Sent Events, /metrics,
// /healthz, /readyz and the status pages, on one cpp-httplib server with its
// own thread pool. httplib.h stays inside http_admin_server.cc.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "admin/common/admin_tls.h"
#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

class MetricsCollector;

struct HttpAdminOptions {
  // host:port; port 0 picks a free port (read it back with bound_address()).
  std::string listen = "127.0.0.1:9901";
  std::string token_file;  // empty: no authentication
  TlsFiles tls;            // unset: plain HTTP
  size_t max_body_bytes = 64 * 1024;
  // SSE: a comment line this often, which is also how a vanished client is
  // noticed (the write fails).
  Duration event_heartbeat = std::chrono::seconds(5);
  size_t event_queue = 1024;    // per stream; beyond it events are dropped and counted
  size_t max_event_streams = 4;  // each holds one of `threads` while open
  size_t threads = 8;
};

// "host:port" for an admin listener: an IP literal ("[::1]" for IPv6) or a
// name resolved now, and a port 0-65535. Errors read "expected host:port ...".
// Shared by the config front ends so a bad address fails at parse time.
Result<SocketAddress> parse_admin_listen(std::string_view text);

// True for 127.0.0.0/8 and ::1 (also v4-mapped).
bool is_loopback(const SocketAddress& address);

class HttpAdminServer {
 public:
  // `dataplane` must outlive the server.
  HttpAdminServer(Dataplane& dataplane, HttpAdminOptions options);
  ~HttpAdminServer();  // stop()
  HttpAdminServer(const HttpAdminServer&) = delete;
  HttpAdminServer& operator=(const HttpAdminServer&) = delete;

  // Loads the token file, binds and starts serving. Errors (bad listen
  // address, unreadable token file, port in use) come back here and leave
  // nothing running. Call once.
  Status start();
  // Any thread. Closes event streams, stops the listener, joins. Idempotent.
  void stop();

  // The bound address (the real port when the option asked for 0).
  SocketAddress bound_address() const;
  // Any thread. /readyz answers 503 from now on (graceful shutdown began).
  void set_shutting_down();
  MetricsCollector& metrics();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nib::admin
