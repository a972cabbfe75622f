#include "admin/common/admin_limits.h"

#include <array>

namespace nib::admin {
namespace {

constexpr IntRange kCount{1, 1'000'000};
constexpr IntRange kReserve{0, 100'000};
constexpr SecondsRange kTimeout{0, true, 3600};
// gRPC takes its durations as int milliseconds.
constexpr SecondsRange kGrpcIdle{0, true, 7 * 24 * 3600};
constexpr int64_t kMiB = 1024 * 1024;

using Id = AdminLimitId;

// Row helpers: a count or a duration, found by a captureless accessor.
#define NIB_COUNT(key, plane, field, range, id) \
  AdminLimitSpec{key, [](AdminLimits& l) { return &l.plane.field; }, nullptr, range, {}, id}
#define NIB_SECONDS(key, plane, field, range, id) \
  AdminLimitSpec{key, nullptr, [](AdminLimits& l) { return &l.plane.field; }, {}, range, id}

const std::array kTable = {
    NIB_COUNT("http.max_connections", http, max_connections, kCount, Id::kHttpMaxConnections),
    NIB_COUNT("http.max_connections_per_client", http, max_connections_per_client, kCount,
              Id::kHttpMaxConnectionsPerClient),
    NIB_COUNT("http.probe_reserve", http, probe_reserve, kReserve, Id::kHttpProbeReserve),
    NIB_SECONDS("http.request_timeout", http, request_timeout_seconds, kTimeout, Id::kHttpRequestTimeout),
    NIB_SECONDS("http.idle_timeout", http, idle_timeout_seconds, kTimeout, Id::kHttpIdleTimeout),
    NIB_COUNT("http.max_header_bytes", http, max_header_bytes, (IntRange{1024, kMiB}), Id::kHttpMaxHeaderBytes),
    NIB_COUNT("http.max_header_count", http, max_header_count, (IntRange{8, 10'000}), Id::kHttpMaxHeaderCount),
    NIB_COUNT("http.max_body_bytes", http, max_body_bytes, (IntRange{1024, 64 * kMiB}), Id::kHttpMaxBodyBytes),
    NIB_COUNT("http.workers", http, workers, (IntRange{1, 64}), std::nullopt),
    NIB_COUNT("http.max_queued_requests", http, max_queued_requests, kCount, Id::kHttpMaxQueuedRequests),
    NIB_COUNT("http.max_event_streams", http, max_event_streams, kReserve, Id::kHttpMaxEventStreams),
    NIB_COUNT("grpc.max_watch_streams", grpc, max_watch_streams, kReserve, Id::kGrpcMaxWatchStreams),
    NIB_COUNT("grpc.max_threads", grpc, max_threads, (IntRange{2, 1024}), std::nullopt),
    NIB_COUNT("grpc.max_memory_bytes", grpc, max_memory_bytes, (IntRange{4 * kMiB, 64 * 1024 * kMiB}),
              std::nullopt),
    NIB_COUNT("grpc.max_concurrent_streams_per_connection", grpc, max_concurrent_streams_per_connection,
              (IntRange{1, 10'000}), std::nullopt),
    NIB_COUNT("grpc.max_receive_message_bytes", grpc, max_receive_message_bytes, (IntRange{1024, 64 * kMiB}),
              std::nullopt),
    NIB_SECONDS("grpc.min_ping_interval", grpc, min_ping_interval_seconds, kTimeout, std::nullopt),
    NIB_SECONDS("grpc.idle_timeout", grpc, idle_timeout_seconds, kGrpcIdle, std::nullopt),
    NIB_SECONDS("grpc.handshake_timeout", grpc, handshake_timeout_seconds, kTimeout, std::nullopt),
    NIB_COUNT("penctl.max_connections", penctl, max_connections, kCount, Id::kPenctlMaxConnections),
    NIB_SECONDS("penctl.command_timeout", penctl, command_timeout_seconds, kTimeout, Id::kPenctlCommandTimeout),
    NIB_COUNT("penctl.max_line_bytes", penctl, max_line_bytes, (IntRange{64, kMiB}), Id::kPenctlMaxLineBytes),
};

#undef NIB_COUNT
#undef NIB_SECONDS

}  // namespace

std::span<const AdminLimitSpec> admin_limit_table() { return kTable; }

std::string_view limit_key(AdminLimitId id) {
  for (const auto& row : kTable) {
    if (row.counted == id) return row.key;
  }
  return "unknown";
}

}  // namespace nib::admin
