#pragma once
// What the admin plane's limits are doing, for /metrics: how often each limit
// turned a client away (nib_admin_limit_hits_total{limit}) and what is open
// now (the gauges below). One instance per process, shared by the HTTP, gRPC
// and control-port servers; relaxed atomics, since a scrape only needs each
// number to be right on its own.
#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "admin/common/admin_limits.h"

namespace nib::admin {

enum class AdminGauge {
  kHttpConnections,     // nib_admin_http_connections
  kHttpQueuedRequests,  // nib_admin_http_queued_requests
  kHttpEventStreams,    // nib_admin_http_event_streams
  kGrpcWatchStreams,    // nib_admin_grpc_watch_streams
  kPenctlConnections,   // nib_admin_penctl_connections
  kCount,
};

struct AdminGaugeInfo {
  std::string_view name;
  std::string_view help;
};

class AdminPlaneStats {
 public:
  // Any thread.
  void hit(AdminLimitId id) { hits_[static_cast<size_t>(id)].fetch_add(1, std::memory_order_relaxed); }
  uint64_t hits(AdminLimitId id) const { return hits_[static_cast<size_t>(id)].load(std::memory_order_relaxed); }

  // Any thread.
  void add(AdminGauge g, int64_t delta) { gauges_[static_cast<size_t>(g)].fetch_add(delta, std::memory_order_relaxed); }
  int64_t value(AdminGauge g) const { return gauges_[static_cast<size_t>(g)].load(std::memory_order_relaxed); }

  static AdminGaugeInfo info(AdminGauge g);

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(AdminLimitId::kCount)> hits_{};
  std::array<std::atomic<int64_t>, static_cast<size_t>(AdminGauge::kCount)> gauges_{};
};

// Holds one unit of a gauge for its lifetime (a connection, a stream).
class AdminGaugeHold {
 public:
  AdminGaugeHold(AdminPlaneStats& stats, AdminGauge gauge) : stats_(&stats), gauge_(gauge) { stats_->add(gauge_, 1); }
  ~AdminGaugeHold() { stats_->add(gauge_, -1); }
  AdminGaugeHold(const AdminGaugeHold&) = delete;
  AdminGaugeHold& operator=(const AdminGaugeHold&) = delete;

 private:
  AdminPlaneStats* stats_;
  AdminGauge gauge_;
};

inline AdminGaugeInfo AdminPlaneStats::info(AdminGauge g) {
  switch (g) {
    case AdminGauge::kHttpConnections: return {"nib_admin_http_connections", "Open admin HTTP connections"};
    case AdminGauge::kHttpQueuedRequests:
      return {"nib_admin_http_queued_requests", "Admin HTTP requests waiting for a worker"};
    case AdminGauge::kHttpEventStreams:
      return {"nib_admin_http_event_streams", "Open GET /api/v1/events streams"};
    case AdminGauge::kGrpcWatchStreams: return {"nib_admin_grpc_watch_streams", "Open gRPC WatchEvents streams"};
    case AdminGauge::kPenctlConnections:
      return {"nib_admin_penctl_connections", "Open control-port (penctl) connections"};
    case AdminGauge::kCount: break;
  }
  return {"", ""};
}

}  // namespace nib::admin
