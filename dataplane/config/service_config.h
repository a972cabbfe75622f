#pragma once
// The dataplane's input: what a service is. Filled by the YAML loader, by Pen's
// command line (exactly one service), and later by the admin API. Plain data;
// parsing and source positions live in server/config.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {

enum class Protocol { kTcp, kUdp };

// Pen's server selection. Tracking (the affinity table) is on in every mode but
// kRoundRobin, which is Pen's -r; the mode picks the *initial* server.
enum class BalanceMode {
  kAffinity,    // Pen's default: tracking, round-robin initial choice
  kRoundRobin,  // -r: round-robin, no tracking
  kHash,        // -h: hash of the client IP
  kWeight,      // -W: lowest active connections / weight
  kPrio,        // -o prio: lowest prio value among usable servers
};

const char* to_string(BalanceMode mode);
const char* to_string(Protocol protocol);
std::optional<BalanceMode> parse_balance_mode(std::string_view text);

struct PolicyConfig {
  BalanceMode mode = BalanceMode::kAffinity;
  bool stubborn = false;           // -s: never fail over from the initial choice
  double tracking_seconds = 0;     // -T: 0 = remembered clients never expire
  double blacklist_seconds = 30;   // -b
  uint64_t table_size = 2048;      // -c: affinity table slots

  bool operator==(const PolicyConfig&) const = default;
};

struct BackendConfig {
  std::string host;       // as written (name or literal), for display
  SocketAddress address;  // resolved
  uint32_t soft_limit = 0;  // max connections for new clients, 0 = unlimited
  uint32_t hard_limit = 0;  // max connections for returning clients, 0 = unlimited
  uint32_t weight = 1;
  uint32_t prio = 0;        // lower is preferred

  bool operator==(const BackendConfig&) const = default;
};

struct ServiceConfig {
  std::string name;
  SocketAddress listen;
  Protocol protocol = Protocol::kTcp;
  PolicyConfig policy;
  std::vector<BackendConfig> backends;
  std::optional<BackendConfig> emergency;
  double connect_timeout_seconds = 5;   // -t
  double idle_timeout_seconds = 0;      // 0 = never (Pen's default)
  uint32_t max_connections = 0;         // -x: 0 = as many as descriptors allow
  int backlog = 4096;                   // -q
  // UDP (-U) only: a session (client address:port -> one upstream socket)
  // silent this long ends; at the limit the least recently used one is evicted.
  double udp_session_timeout_seconds = 60;
  uint64_t udp_max_sessions = 0;        // 0 = as many as descriptors allow
};

struct DataplaneConfig {
  std::vector<ServiceConfig> services;
  int workers = 0;  // 0 = one per core
};

// Rules that span fields (names unique, listeners distinct, ...). Range checks on
// single fields are the loaders' job, where they can name a line.
Status validate(const DataplaneConfig& config);

}  // namespace nib
