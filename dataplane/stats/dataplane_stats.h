#pragma once
// Read-only views of the dataplane, taken without stopping traffic: what the
// status page, the -w file and (later) the admin plane render.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/affinity/affinity_table.h"
#include "dataplane/config/service_config.h"
#include "dataplane/registry/backend.h"
#include "dataplane/service/service.h"

namespace nib {

struct BackendStatus {
  uint32_t id = 0;
  int index = -1;               // Pen's server number; -1 for the emergency server
  std::string host;
  SocketAddress address;
  AdminState admin_state = AdminState::kEnabled;
  bool blacklisted = false;
  double blacklist_remaining_seconds = 0;
  uint32_t soft_limit = 0, hard_limit = 0, weight = 0, prio = 0;
  int64_t active = 0;
  BackendCounters counters;
};

struct ServiceStatus {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  SocketAddress listen;
  PolicyConfig policy;
  double connect_timeout_seconds = 0;
  double idle_timeout_seconds = 0;
  uint32_t max_connections = 0;
  int64_t active = 0;
  ServiceCounters counters;
  AffinityStats affinity;
  std::vector<BackendStatus> backends;
  std::optional<BackendStatus> emergency;
};

struct ConnectionInfo {
  std::string service;
  unsigned worker = 0;
  SocketAddress client;
  SocketAddress backend;         // invalid while none is chosen
  uint32_t backend_id = 0;
  bool connecting = false;
  double age_seconds = 0;
  uint64_t bytes_in = 0;         // client -> backend
  uint64_t bytes_out = 0;        // backend -> client
};

}  // namespace nib
