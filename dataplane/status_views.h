#pragma once
// Read-only views of the dataplane, taken without stopping traffic: what the
// status page, the -w file and (later) the admin plane render.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/affinity/affinity_table.h"
#include "dataplane/affinity/client_pins.h"
#include "dataplane/config/service_config.h"
#include "dataplane/net/ip_prefix.h"
#include "dataplane/registry/backend.h"
#include "dataplane/resource/shortage_counters.h"
#include "dataplane/service/service.h"

namespace nib {

// BackendPatch lives in registry/backend.h, IpPrefix in net/ip_prefix.h and
// ClientPin in affinity/client_pins.h (the registry needs them); all are
// visible through this header.

struct BackendStatus {
  uint32_t id = 0;
  int index = -1;               // Pen's server number; -1 for the emergency server
  std::string host;
  SocketAddress address;
  std::string source;           // BackendConfig::source: "" (configured, API) or "dns"
  AdminState admin_state = AdminState::kEnabled;
  // The one state every view shows: the admin state first (draining,
  // disabled), then down when an active check or Pen's blacklist keeps new
  // clients away, else up. Computed here only.
  BackendState state = BackendState::kUp;
  std::string state_reason;                 // why, for people; "" when up and unchecked
  HealthInfo health;                        // reason and time of the last change, last check
  bool blacklisted = false;
  double blacklist_remaining_seconds = 0;
  uint32_t soft_limit = 0, hard_limit = 0, weight = 0, prio = 0;
  std::optional<ProxyProtocol> proxy_protocol;  // its own; nullopt: the service's
  bool tcp_fast_open = false;
  int64_t active = 0;
  BackendCounters counters;
  // Filled by Dataplane::backend() and service_with_clients() only (O(table size)).
  uint64_t remembered_clients = 0;
  bool drain_finished = false;      // draining and no connection left

  // Takes new clients now (the readiness rule, nib_backend_up).
  bool usable() const { return state == BackendState::kUp; }
};

// A UDP service's datagram counters, summed over the workers.
struct UdpCounters {
  uint64_t sessions = 0;          // open now
  uint64_t sessions_opened = 0;   // an upstream socket was connected (failovers included)
  uint64_t sessions_expired = 0;  // silent for the session timeout
  uint64_t sessions_evicted = 0;  // least recently used, pushed out at the session limit
  uint64_t backend_refused = 0;   // ICMP port (or host) unreachable from a backend
  uint64_t datagrams_in = 0;      // client -> backend, sent
  uint64_t datagrams_out = 0;     // backend -> client, sent
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  // Datagrams dropped, by reason.
  uint64_t drops_no_backend = 0;  // no server (nor the emergency one) could take the client
  uint64_t drops_stubborn = 0;    // stubborn, and the client's server is unavailable
  uint64_t drops_no_socket = 0;   // no descriptor for a new session
  uint64_t drops_to_backend = 0;  // sending to the backend failed (its socket buffer was full)
  uint64_t drops_to_client = 0;   // sending to the client failed
  uint64_t drops_acl = 0;         // the client ACL denied the client
};

struct UdpServiceStatus {
  double session_timeout_seconds = 0;
  uint64_t max_sessions = 0;  // in effect (the descriptor budget when configured as 0)
  UdpCounters counters;
};

// Direct Server Return (Pen's dsr_if): what the frame forwarder did.
struct DsrCounters {
  uint64_t frames_forwarded = 0;
  uint64_t bytes_forwarded = 0;
  uint64_t flows_opened = 0;
  uint64_t arp_replies = 0;     // ARP requests for the service (or a tarpit) address answered
  uint64_t tarpitted = 0;       // SYNs answered for the tarpit ACL
  // Frames dropped: no backend would take the flow (or the client ACL denied
  // it), the backend's MAC address is not known yet (an ARP request went
  // out), or the interface refused the frame (too large: see the docs on GRO).
  uint64_t dropped_no_backend = 0;
  uint64_t dropped_unresolved = 0;
  uint64_t dropped_send = 0;
};

struct ServiceStatus {
  std::string name;
  Protocol protocol = Protocol::kTcp;
  SocketAddress listen;
  std::string listen_path;  // a Unix socket's path; `listen` is then unused
  // Where clients connect, for people: the path, or the address.
  std::string listen_text() const { return listen_path.empty() ? listen.to_string() : listen_path; }
  PolicyConfig policy;
  double connect_timeout_seconds = 0;
  double idle_timeout_seconds = 0;
  uint32_t max_connections = 0;
  bool tcp_nodelay = true;  // set at start: a change needs a restart
  FastClose tcp_fastclose = FastClose::kOff;  // the same
  bool keepalive = false;                     // the same
  std::optional<SocketAddress> source;        // the same (Pen's `source IP`)
  bool transparent = false;                   // the same (Pen's `transparent`)
  std::string dsr_interface;                  // the same (Pen's `dsr_if`); empty: none
  bool http = false;                          // the same (Pen's -H)
  bool http_forwarded = false;                // the same
  bool dummy = false;                         // the same (Pen's dummy)
  ProxyProtocol proxy_protocol = ProxyProtocol::kOff;  // the same
  std::vector<IpPrefix> accept_proxy_from;             // the same
  int64_t active = 0;
  uint32_t idlers_open = 0;  // Pen's idlers connected now (policy.idlers wanted)
  // TLS toward the clients: on, and when its soonest certificate expires
  // (Unix seconds; 0 without TLS). A reload may change both.
  bool tls = false;
  int64_t tls_not_after_unix = 0;
  bool backend_tls = false;  // TLS toward the backends (backend_tls)
  ServiceCounters counters;
  AffinityStats affinity;
  std::vector<BackendStatus> backends;
  std::optional<BackendStatus> emergency;
  std::optional<BackendStatus> abuse;   // Pen's -B; index -1 like the emergency server
  std::optional<UdpServiceStatus> udp;  // UDP only; `active` and `max_connections` then count sessions
  std::optional<DsrCounters> dsr;       // direct server return only; `active` then counts open flows
};

// The process's own resources (issue 17, finding 2): the descriptor budget,
// the relay buffers, and how often nib ran short (each shortage paused
// accepting, closed a client, dropped a new UDP client's datagram, skipped a
// health check or made a relay copy instead of splice: never a backend's fault).
struct ResourceStatus {
  uint64_t fd_limit = 0;        // RLIMIT_NOFILE
  uint64_t fd_budget = 0;       // what the dataplane may hold for clients
  uint64_t fd_in_use = 0;       // of the budget
  uint64_t relay_memory_limit = 0;  // bytes, all TCP workers
  uint64_t relay_memory_in_use = 0;
  int64_t paused_listeners = 0;     // TCP listeners not accepting right now
  // relay: sockmap (issue 18): whether the in-kernel relay is loaded (0:
  // not asked for, or it fell back to splice), and connections it took.
  bool relay_kernel_active = false;
  uint64_t relay_kernel_connections = 0;
  ShortageCounts exhausted;         // by resource
};

// The access log (issue 14), for metrics and status.
struct AccessLogStatus {
  bool enabled = false;      // lines are being taken (false after penctl's `no log`)
  std::string destination;  // the file, or "udp:IP:PORT"; empty: never had one
  uint64_t lines = 0;       // written
  uint64_t dropped = 0;     // a full ring, or a failed write
};

struct ConnectionInfo {
  // TCP: the number Pen's control port names a connection by (`connection
  // N`, `close N`), unique while nib runs; 0 for a UDP session.
  uint64_t id = 0;
  std::string service;
  unsigned worker = 0;
  SocketAddress client;
  SocketAddress backend;         // invalid while none is chosen
  uint32_t backend_id = 0;
  bool connecting = false;
  double age_seconds = 0;
  uint64_t bytes_in = 0;         // client -> backend
  uint64_t bytes_out = 0;        // backend -> client
  // UDP sessions are listed too (never "connecting").
  Protocol protocol = Protocol::kTcp;
  uint64_t datagrams_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t drops = 0;            // this session's datagrams dropped, either way
};

}  // namespace nib
