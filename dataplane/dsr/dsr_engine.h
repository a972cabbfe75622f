#pragma once
// Pen's Direct Server Return (`-O "dsr_if IF"`, the listen address as the
// service address): nib forwards the clients' frames on layer 2 and the
// backends answer the clients directly, so replies never cross nib.
//
// One thread reads every frame on the interface through a packet socket
// (CAP_NET_RAW). It answers ARP for the service address (and, as Pen's
// tarpit, for addresses the tarpit ACL lists: their SYNs get a SYN-ACK that
// leads nowhere), learns the backends' MAC addresses by ARP, and sends each
// client flow's frames to the backend Pen's rules choose (client table,
// failover, blacklist, health, drains), changing only the MAC addresses.
// The backends hold the service address themselves (on lo, with
// arp_ignore=1 and arp_announce=2) and sit on nib's segment.
//
// A flow (client address and port) stays on its backend while the backend
// is in the registry, up and not blacklisted; then its next frame chooses
// afresh (the connection breaks there, the client's retry is served). nib
// never sees the replies, so a flow ends on the client's RST, a little after
// its FIN, or when idle (the service's idle timeout, else 5 minutes; UDP: the
// session timeout). Open flows count as the backends' connections (drains,
// limits, the status page).
//
// The socket asks for virtio-net headers (PACKET_VNET_HDR), so frames whose
// checksum a virtual interface left to offload, or that GRO merged, go back
// out with that work left to the kernel instead of corrupted.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/dsr/dsr_frame.h"
#include "dataplane/net/access_list.h"
#include "dataplane/status_views.h"

namespace nib {

class Backend;
class Service;
struct RegistrySnapshot;


class DsrEngine {
 public:
  // `service` (owned by the Dataplane, outliving the engine) is served on
  // `interface`; its listen address is the service address (IPv4; port 0 =
  // every port). `flow_timeout`: how long a silent flow is kept. `tarpit`:
  // Pen's tarpit_acl at start (empty: none; see set_tarpit).
  DsrEngine(Service& service, std::string interface, Duration flow_timeout, AccessList tarpit,
            const Clock& clock = SystemClock::instance());
  ~DsrEngine();  // stops and joins
  DsrEngine(const DsrEngine&) = delete;
  DsrEngine& operator=(const DsrEngine&) = delete;

  // Opens and binds the packet socket (an error names the interface, and
  // CAP_NET_RAW when it is missing), then starts the thread. Call once.
  [[nodiscard]] Status start();
  // Any thread. Joins the thread; open flows end (their backends' counts drop).
  void stop();

  // Any thread: Pen's tarpit_acl from now on (empty: none). Country entries
  // match no address here.
  void set_tarpit(AccessList tarpit) {
    tarpit_.store(std::make_shared<const AccessList>(std::move(tarpit)), std::memory_order_release);
  }

  const Service& service() const { return service_; }
  const std::string& interface() const { return interface_; }
  // Any thread.
  DsrCounters counters() const;
  int64_t open_flows() const { return open_flows_.load(std::memory_order_relaxed); }

 private:
  // Neighbours are never forgotten (a backend's address, re-asked every
  // minute), so a Flow may keep a pointer to one: unordered_map nodes stay put.
  struct Neighbour {
    dsr::Mac mac{};
    bool known = false;
    MonoTime learned{};
    MonoTime asked{};
  };
  struct Flow {
    std::shared_ptr<Backend> backend;
    Neighbour* neighbour = nullptr;  // the backend's
    uint64_t generation = 0;         // of the registry when its backend was last seen listed
    MonoTime last_seen;
    bool closing = false;  // the client sent FIN: kept a little for its last ACKs
  };
  // Where a frame goes; `flow` is null beyond kMaxFlows (forwarded, not remembered).
  struct Route {
    Backend* backend = nullptr;
    Neighbour* neighbour = nullptr;
    Flow* flow = nullptr;
  };

  void run();
  void read_frames();
  void handle(size_t length);
  void handle_arp(const dsr::Arp& arp, size_t length);
  void handle_ipv4(const dsr::Ipv4Flow& flow, size_t length);
  // Where the flow `key` goes: its backend, or a new one chosen (and counted)
  // when there is none or the old one cannot serve; no backend: dropped.
  Route route_for(uint64_t key, const dsr::Ipv4Flow& f, MonoTime now);
  Route choose(uint64_t key, const dsr::Ipv4Flow& f, MonoTime now);
  // One lookup of the listing per registry generation; health and the
  // blacklist are read each frame (atomics).
  bool still_serves(Flow& flow, MonoTime now) const;
  void close_flow(Flow& flow);
  void tick(MonoTime now);  // once a second: ARP for the backends, expire flows
  void ask(uint32_t ip, Neighbour& n, MonoTime now);
  bool send(const uint8_t* frame, size_t length);
  bool tarpitted(uint32_t ip) const;
  void bump(std::atomic<uint64_t>& c, uint64_t n = 1) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }

  Service& service_;
  const std::string interface_;
  const Duration flow_timeout_;
  // Read only for frames that are not the service's (rare but unbounded:
  // a scan), so one atomic load there, never on the forwarding path.
  std::atomic<std::shared_ptr<const AccessList>> tarpit_;
  const Clock& clock_;
  uint32_t service_ip_ = 0;  // network order
  uint16_t service_port_ = 0;
  uint8_t protocol_ = 0;
  dsr::Mac own_mac_{};
  uint32_t own_ip_ = 0;  // the interface's IPv4 address, for ARP requests (0: a probe)
  UniqueFd socket_;
  UniqueFd wake_;  // eventfd: stop() wakes the thread
  std::atomic<bool> stopping_{false};
  std::thread thread_;

  // The thread's own state.
  std::shared_ptr<const RegistrySnapshot> snapshot_;
  uint64_t generation_ = ~uint64_t{0};
  std::unordered_map<uint64_t, Flow> flows_;
  std::unordered_map<uint32_t, Neighbour> neighbours_;  // by IPv4 address, network order
  MonoTime last_tick_{};
  std::vector<uint8_t> buffer_;

  struct Cells {
    std::atomic<uint64_t> frames_forwarded{0}, bytes_forwarded{0}, flows_opened{0}, arp_replies{0}, tarpitted{0},
        dropped_no_backend{0}, dropped_unresolved{0}, dropped_send{0};
  } cells_;  // written by the thread only
  std::atomic<int64_t> open_flows_{0};
};

}  // namespace nib
