#pragma once
// One UDP client (address:port) relayed through one connected upstream socket:
// the backend's replies are read from it and sent back through the service's
// listening socket, and an ICMP port unreachable shows up on it as
// ECONNREFUSED, naming the dead backend. Plain state owned, pooled and driven
// by its UdpWorker; every member is touched on that worker's loop thread only.
#include <netinet/in.h>

#include <cstdint>
#include <memory>

#include "dataplane/balancer/selector.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/event/event_loop.h"
#include "dataplane/net/proxy_protocol.h"
#include "dataplane/status_views.h"
#include "dataplane/udp/udp_session_table.h"

namespace nib {

class UdpWorker;
class UdpListener;

// The address a client sent to, for replies from a wildcard listener: without
// it the kernel would pick the reply's source address, and a client that
// talked to 10.0.0.5 would get its answer from 10.0.0.1 (and drop it).
struct UdpLocalAddress {
  int family = 0;  // 0: none (the listener is bound to one address)
  in_pktinfo v4{};
  in6_pktinfo v6{};
};

class UdpSession final : public UdpSessionTable::Entry, public EventHandler {
 public:
  enum class State : uint8_t {
    kFree,    // in the worker's pool
    kOpen,    // upstream socket connected to sel.backend()
    kFailed,  // that backend refused; the next datagram connects to sel's next choice
    kClosed,  // out of the table; recycled after the current event batch
  };

  explicit UdpSession(UdpWorker& worker) : worker_(worker) {}
  UdpSession(const UdpSession&) = delete;
  UdpSession& operator=(const UdpSession&) = delete;

  void on_event(uint32_t events) override;
  ConnectionInfo info(MonoTime now) const;
  // Back to the pool: drops the references that kept the snapshot alive.
  void recycle();

  State state = State::kFree;
  UdpListener* listener = nullptr;
  SocketAddress client;
  IpKey client_ip;
  UdpLocalAddress local;
  UniqueFd upstream;
  std::shared_ptr<const RegistrySnapshot> snap;  // keeps every backend it names alive
  Selection sel;
  bool holds_backend = false;  // counted in sel.backend()'s active sessions
  bool holds_fd = false;       // its descriptor is taken from the FdBudget
  // The PROXY v2 header in front of each datagram to the backend (the
  // backend's or the service's setting when it connected); 0: none.
  uint8_t proxy_len = 0;
  char proxy_header[kProxyHeaderMax];
  MonoTime started{};
  uint64_t datagrams_in = 0, datagrams_out = 0, bytes_in = 0, bytes_out = 0, drops = 0;

 private:
  UdpWorker& worker_;
};

}  // namespace nib
