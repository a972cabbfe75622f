#pragma once
// Every limit of the admin plane (admin HTTP, admin gRPC, Pen's control port)
// in one table: its default, its range, what it protects and the metric that
// counts it. The servers take their values from AdminLimits; the YAML loader
// reads admin.limits.<key> through admin_limit_table(); docs/operations.md
// ("Admin plane limits") lists the same rows, and a test holds it to them.
// The dataplane's own limits are in dataplane/config/limits.h.
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "dataplane/config/limits.h"

namespace nib::admin {

struct HttpLimits {
  // Connections the admin HTTP listener serves at once. Past it (or past the
  // per-client cap) a connection lands in the probe reserve.
  size_t max_connections = 1024;
  // Open connections from one client address (IP): one client cannot take the
  // whole listener.
  size_t max_connections_per_client = 64;
  // Connections beyond the caps that still answer /healthz and /readyz (any
  // other request gets 503 + Retry-After). Beyond the reserve: closed at once.
  size_t probe_reserve = 32;
  // From a request's first byte to its last body byte (TLS handshake
  // included). Past it: 408 and close. Reserve connections get a fifth of it.
  double request_timeout_seconds = 10;
  // A keep-alive connection waiting for its next request is closed after this.
  double idle_timeout_seconds = 30;
  size_t max_header_bytes = 16 * 1024;  // request line + headers; more: 431
  size_t max_header_count = 100;         // header lines; more: 431
  size_t max_body_bytes = 64 * 1024;     // more: 413
  // Threads running the handlers that can block (REST, /metrics, pages);
  // probes never wait for them.
  size_t workers = 2;
  // Requests waiting for a worker; more: 503 + Retry-After.
  size_t max_queued_requests = 64;
  // Open GET /api/v1/events streams; more: 503.
  size_t max_event_streams = 16;
};

struct GrpcLimits {
  // Open WatchEvents streams (they hold no thread); more: RESOURCE_EXHAUSTED.
  size_t max_watch_streams = 64;
  // Threads for the unary calls (gRPC's ResourceQuota); more: RESOURCE_EXHAUSTED.
  size_t max_threads = 32;
  // Memory gRPC may use for connections and calls (its ResourceQuota).
  size_t max_memory_bytes = 64 * 1024 * 1024;
  // Concurrent calls on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).
  size_t max_concurrent_streams_per_connection = 32;
  size_t max_receive_message_bytes = 64 * 1024;  // more: RESOURCE_EXHAUSTED
  // Keepalive enforcement: a client pinging more often than this (or pinging
  // without a call in flight) is sent GOAWAY after a few strikes.
  double min_ping_interval_seconds = 10;
  // A connection with no call for this long is closed (GOAWAY).
  double idle_timeout_seconds = 300;
  // TCP connect to the end of the HTTP/2 (and TLS) handshake.
  double handshake_timeout_seconds = 10;
};

struct PenctlLimits {
  size_t max_connections = 64;  // open control connections; more: closed at once
  // From connect to the command's newline; past it: an error line and close.
  double command_timeout_seconds = 5;
  size_t max_line_bytes = 4096;  // a longer command line: an error line and close
};

struct AdminLimits {
  HttpLimits http;
  GrpcLimits grpc;
  PenctlLimits penctl;
};

// The limits whose hits nib counts itself, as
// nib_admin_limit_hits_total{limit="<key>"} (AdminPlaneStats). The others are
// enforced inside gRPC, which reports them to the client only.
enum class AdminLimitId {
  kHttpMaxConnections,
  kHttpMaxConnectionsPerClient,
  kHttpProbeReserve,
  kHttpRequestTimeout,
  kHttpIdleTimeout,
  kHttpMaxHeaderBytes,
  kHttpMaxHeaderCount,
  kHttpMaxBodyBytes,
  kHttpMaxQueuedRequests,
  kHttpMaxEventStreams,
  kGrpcMaxWatchStreams,
  kPenctlMaxConnections,
  kPenctlCommandTimeout,
  kPenctlMaxLineBytes,
  kCount,
};

// One row of the table: a count (or size) or a duration, never both.
struct AdminLimitSpec {
  std::string_view key;  // "http.max_connections": admin.limits.http.max_connections in YAML
  size_t* (*count)(AdminLimits&) = nullptr;
  double* (*seconds)(AdminLimits&) = nullptr;
  IntRange count_range{0, 0};
  SecondsRange seconds_range{0, false, 0};
  // Set when nib counts the limit's hits (nib_admin_limit_hits_total).
  std::optional<AdminLimitId> counted;
};

// Every limit, in the order docs/operations.md lists them.
std::span<const AdminLimitSpec> admin_limit_table();
// The key of a counted limit ("http.max_connections").
std::string_view limit_key(AdminLimitId id);

}  // namespace nib::admin
