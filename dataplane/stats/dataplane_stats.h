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

// What an operator may change on a backend at runtime; unset fields stay.
struct BackendPatch {
  std::optional<uint32_t> weight;
  std::optional<uint32_t> prio;
  std::optional<uint32_t> soft_limit;
  std::optional<uint32_t> hard_limit;
  std::optional<bool> enabled;  // false = disabled by the operator, true = back in rotation
};

// An IPv4 or IPv6 address with a prefix length: "10.1.0.0/16", "::1/128", or
// a bare address (a full-length prefix).
struct IpPrefix {
  IpKey address;       // masked to `length` bits (IPv4 as v4-mapped: length counts from bit 96)
  uint8_t length = 128;
  static Result<IpPrefix> parse(std::string_view text);
  bool contains(const IpKey& ip) const;
  std::string to_string() const;
  bool operator==(const IpPrefix&) const = default;
};

struct ClientPin {
  IpPrefix prefix;
  uint32_t backend_id = 0;
};

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
  uint64_t remembered_clients = 0;  // filled by Dataplane::backend() only (O(table size))
  bool drain_finished = false;      // draining and no connection left
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
