#pragma once
// The admin plane's HTTP server: REST API, Server-Sent Events, /metrics,
// /healthz, /readyz and the status pages, on Boost.Beast over asio (Boost
// headers stay inside http_admin_server.cc: they are heavy to compile).
//
// Why Beast: the listener must survive hostile clients before they
// authenticate. Debian's cpp-httplib 0.11 gives each connection a thread of a
// fixed pool with an unbounded queue and no header-count limit, so 8 slow
// clients took every thread. Beast (libboost-dev 1.74, header-only, TLS
// through asio::ssl on the OpenSSL 3 nib already links) reads asynchronously:
// a slow client holds a socket and a few KiB, never a thread, and its parser
// has header and body limits. libmicrohttpd was the other candidate; it has
// connection limits and timeouts of its own but only a per-connection
// inactivity timeout (no whole-request deadline), a C callback API around
// its own threads, and GnuTLS rather than OpenSSL for TLS.
//
// How load is bounded (every limit: admin/common/admin_limits.h, HttpLimits):
// - One I/O thread runs every socket. Probes (/healthz, /readyz) are answered
//   on it directly, so they never wait behind other admin traffic.
// - Every other request runs on a small worker pool (handlers can block: a
//   host name to resolve, a large /metrics) behind a bounded queue; a full
//   queue answers 503 with Retry-After.
// - A request has a whole-request deadline from its first byte (408, close);
//   an idle keep-alive connection is closed after idle_timeout; header bytes
//   and header lines are capped (431); bodies are capped (413).
// - Connections are capped in total and per client address. Past a cap a
//   connection lands in a small probe reserve that answers only probes
//   (anything else: 503 + Retry-After) under a shorter deadline; past the
//   reserve it is closed at once. So probes keep working while clients fill
//   the listener, unless many addresses together fill the cap and the reserve.
// - Event streams (SSE) are capped; each holds a socket, no thread.
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "admin/common/admin_limits.h"
#include "admin/common/admin_tls.h"
#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

class AdminApi;
class AdminPlaneStats;
class DiscoveryStats;
class MetricsCollector;

struct HttpAdminOptions {
  // host:port; port 0 picks a free port (read it back with bound_address()).
  std::string listen = "127.0.0.1:9901";
  std::string token_file;  // empty: no authentication
  TlsFiles tls;            // unset: plain HTTP
  // SSE: a comment line this often, which is also how a vanished client is
  // noticed (the write fails).
  Duration event_heartbeat = std::chrono::seconds(5);
  size_t event_queue = 1024;  // per stream; beyond it events are dropped and counted
  HttpLimits limits;
  // The process's admin counters (shared with gRPC and the control port, all
  // served on /metrics); null: the server keeps its own. Must outlive it.
  AdminPlaneStats* stats = nullptr;
  // Backends from DNS, served on /metrics; null: none. Must outlive the server.
  const DiscoveryStats* discovery = nullptr;
};

// "host:port" for an admin listener: an IP literal ("[::1]" for IPv6) or a
// name resolved now, and a port 0-65535. Errors read "expected host:port ...".
// Shared by the config front ends so a bad address fails at parse time.
Result<SocketAddress> parse_admin_listen(std::string_view text);

// True for 127.0.0.0/8 and ::1 (also v4-mapped).
bool is_loopback(const SocketAddress& address);

class HttpAdminServer {
 public:
  // `api` (the admin core, and its Dataplane) must outlive the server.
  HttpAdminServer(AdminApi& api, HttpAdminOptions options);
  ~HttpAdminServer();  // stop()
  HttpAdminServer(const HttpAdminServer&) = delete;
  HttpAdminServer& operator=(const HttpAdminServer&) = delete;

  // Loads the token file, binds and starts serving. Errors (bad listen
  // address, unreadable token file, port in use) come back here and leave
  // nothing running. Call once.
  Status start();
  // Any thread. Ends event streams (each gets its last chunk), stops the
  // listener, cuts every connection whatever its client does, lets requests
  // already running on a worker finish, joins. Idempotent.
  void stop();

  // The bound address (the real port when the option asked for 0).
  SocketAddress bound_address() const;
  // Any thread. /readyz answers 503 from now on (graceful shutdown began).
  void set_shutting_down();
  MetricsCollector& metrics();

  struct Impl;  // in the .cc, with the connections that use it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nib::admin
