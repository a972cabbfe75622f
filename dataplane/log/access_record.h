#pragma once
// What one finished connection leaves for the access log: a fixed-size
// record the worker fills in place in its ring (no allocation, no
// formatting on the worker); the writer thread formats it.
#include <time.h>

#include <cstdint>
#include <string>

#include "dataplane/config/service_config.h"
#include "dataplane/net/socket_address.h"

namespace nib {

// Why a connection ended, as the relay saw it at close.
enum class CloseReason : uint8_t {
  kClientClosed,   // the client's FIN came first (or it left while we connected)
  kBackendClosed,  // the backend's FIN came first
  kClientReset,    // a read from or write to the client failed
  kBackendReset,   // the backend reset, or a write to it failed
  kIdle,           // the idle timeout (-t)
  kDrained,        // its backend's drain deadline passed
  kAcl,            // the client ACL denied the client (closed after accept)
  kNoBackend,      // no server could take it (all failed, stubborn, none usable)
  kShortage,       // nib ran short of a descriptor, memory or a local port
  kLimit,          // a UDP session evicted to make room under max_sessions
  kShutdown,       // nib stopped with the connection open
  kProxyHeader,    // a trusted balancer's client sent no valid PROXY header in time
  kOperator,       // closed on an operator's command (penctl close N)
  kBadRequest,     // an HTTP service's client sent a malformed request (-H)
  kTlsHandshake,   // a TLS service's client failed its handshake or did not finish it in time
};
const char* to_string(CloseReason reason);

// The wall clock for a record's time: a vDSO call, no system call. Durations
// come from the loop's clock instead (tests drive it by hand).
inline int64_t wall_clock_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct AccessRecord {
  // The first line of the client's first bytes (an HTTP request line), cut
  // here: what Pen logs and penlogd matches on (it compares 100 bytes at most).
  static constexpr size_t kRequestMax = 100;

  int64_t unix_ns = 0;       // wall clock at close
  int64_t duration_us = 0;   // accept to close
  int64_t connect_us = -1;   // accept to the backend's connect; -1: never connected
  uint64_t bytes_in = 0;     // client -> backend
  uint64_t bytes_out = 0;    // backend -> client
  // The service's name: Services outlive the workers and the writer (see
  // Dataplane), so the writer may read it after the worker moved on.
  const std::string* service = nullptr;
  SocketAddress client;
  SocketAddress backend;     // invalid when none was connected
  // nib's own port on its connection (TCP) or session socket (UDP) to the
  // backend: what the backend logs as its client's port, so a backend's log
  // line can be matched to the client (nib-logd). 0 when not connected.
  uint16_t backend_source_port = 0;
  uint16_t failovers = 0;    // servers that failed this client before the last
  CloseReason reason = CloseReason::kClientClosed;
  Protocol protocol = Protocol::kTcp;
  uint8_t request_len = 0;
  char request[kRequestMax];  // raw bytes; the formatter makes them printable
};

}  // namespace nib
