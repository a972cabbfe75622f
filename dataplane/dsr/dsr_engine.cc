#include "dataplane/dsr/dsr_engine.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/balancer/selector.h"
#include "dataplane/base/log.h"
#include "dataplane/service/service.h"

namespace nib {
namespace {

using namespace std::chrono_literals;

// struct virtio_net_hdr (linux/virtio_net.h, which C++ cannot include: a
// member is named `class`): flags, gso_type and four 16-bit fields.
constexpr size_t kVnetHeader = 10;
// The largest frame GRO (or a virtual interface's TSO) hands up, with its header.
constexpr size_t kBufferSize = kVnetHeader + 65536 + 64;
constexpr int kFramesPerWake = 256;
constexpr Duration kTick = 1s;
constexpr Duration kNeighbourTtl = 60s;         // Pen asks again after a minute
constexpr Duration kAskEvery = 200ms;           // for an unknown MAC, at most
constexpr Duration kAfterFin = 10s;             // the client's last ACKs after its FIN
// Flows are remembered up to this many (~100 MiB): beyond it (spoofed
// sources, say) a frame is still forwarded by Pen's client table alone, and
// is not counted as a connection.
constexpr size_t kMaxFlows = size_t{1} << 20;

IpKey key_of(uint32_t ip) {
  IpKey k;
  k.bytes[10] = k.bytes[11] = 0xff;
  std::memcpy(&k.bytes[12], &ip, 4);
  return k;
}

std::string ip_text(uint32_t ip) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &ip, text, sizeof text);
  return text;
}

uint32_t ipv4_of(const SocketAddress& a) {
  const auto* in = reinterpret_cast<const sockaddr_in*>(a.sockaddr_ptr());
  return in->sin_addr.s_addr;
}

// The interface's first IPv4 address (network order), 0 when it has none.
uint32_t interface_ipv4(const std::string& name) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return 0;
  uint32_t ip = 0;
  for (ifaddrs* a = list; a != nullptr && ip == 0; a = a->ifa_next) {
    if (a->ifa_addr != nullptr && a->ifa_addr->sa_family == AF_INET && name == a->ifa_name) {
      ip = reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr;
    }
  }
  ::freeifaddrs(list);
  return ip;
}

}  // namespace

DsrEngine::DsrEngine(Service& service, std::string interface, Duration flow_timeout, AccessList tarpit,
                     const Clock& clock)
    : service_(service),
      interface_(std::move(interface)),
      flow_timeout_(flow_timeout),
      tarpit_(std::make_shared<const AccessList>(std::move(tarpit))),
      clock_(clock),
      buffer_(kBufferSize) {}

DsrEngine::~DsrEngine() { stop(); }

Status DsrEngine::start() {
  const SocketAddress listen = service_.listen_address();
  if (listen.family() != AF_INET) return Status::invalid("direct server return serves an IPv4 address");
  service_ip_ = ipv4_of(listen);
  service_port_ = listen.port();
  protocol_ = service_.protocol() == Protocol::kUdp ? IPPROTO_UDP : IPPROTO_TCP;
  const std::string where = "direct server return on " + interface_ + ": ";
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL)));
  if (!fd) {
    return Status::invalid(where + "packet socket: " + std::strerror(errno) +
                           (errno == EPERM ? " (it needs CAP_NET_RAW: run as root, or grant the capability)" : ""));
  }
  ifreq ifr{};
  if (interface_.empty() || interface_.size() >= IFNAMSIZ) return Status::invalid(where + "no such interface");
  std::memcpy(ifr.ifr_name, interface_.data(), interface_.size());
  if (::ioctl(fd.get(), SIOCGIFINDEX, &ifr) != 0) return Status::invalid(where + "no such interface");
  const int index = ifr.ifr_ifindex;
  if (::ioctl(fd.get(), SIOCGIFHWADDR, &ifr) != 0 || ifr.ifr_hwaddr.sa_family != 1 /* ARPHRD_ETHER */) {
    return Status::invalid(where + "not an Ethernet interface");
  }
  std::memcpy(own_mac_.data(), ifr.ifr_hwaddr.sa_data, 6);
  own_ip_ = interface_ipv4(interface_);
  int on = 1;
  if (::setsockopt(fd.get(), SOL_PACKET, PACKET_VNET_HDR, &on, sizeof on) != 0) {
    return Status::invalid(where + "PACKET_VNET_HDR: " + std::strerror(errno));
  }
  // Our own frames are not clients' (kernels before 4.20: sll_pkttype below).
  (void)::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof on);
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = index;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
    return Status::invalid(where + "bind: " + std::strerror(errno));
  }
  wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) return Status::invalid(where + "eventfd: " + std::strerror(errno));
  socket_ = std::move(fd);
  log_info("service " + service_.name() + ": direct server return for " + listen.to_string() + " on " + interface_ +
           " (" + dsr::to_string(own_mac_) + ")");
  thread_ = std::thread([this] { run(); });
  return {};
}

void DsrEngine::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true);
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  for (auto& [key, flow] : flows_) close_flow(flow);
  flows_.clear();
}

DsrCounters DsrEngine::counters() const {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  return {get(cells_.frames_forwarded), get(cells_.bytes_forwarded),   get(cells_.flows_opened),
          get(cells_.arp_replies),      get(cells_.tarpitted),         get(cells_.dropped_no_backend),
          get(cells_.dropped_unresolved), get(cells_.dropped_send)};
}

void DsrEngine::run() {
  pollfd fds[2] = {{socket_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
  tick(clock_.now());
  while (!stopping_.load(std::memory_order_relaxed)) {
    const int n = ::poll(fds, 2, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kTick).count()));
    if (n < 0 && errno != EINTR) {
      log_error("service " + service_.name() + ": direct server return: poll: " + std::strerror(errno));
      return;
    }
    if (n > 0 && (fds[0].revents & POLLIN)) read_frames();
    const MonoTime now = clock_.now();
    if (now - last_tick_ >= kTick) tick(now);
  }
}

void DsrEngine::read_frames() {
  for (int i = 0; i < kFramesPerWake; ++i) {
    sockaddr_ll from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(socket_.get(), buffer_.data(), buffer_.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;  // EAGAIN, or a transient error: poll says when to read again
    if (from.sll_pkttype == PACKET_OUTGOING || static_cast<size_t>(n) < kVnetHeader + dsr::kEthernetHeader) continue;
    if (from.sll_pkttype != PACKET_HOST && from.sll_pkttype != PACKET_BROADCAST) continue;
    handle(static_cast<size_t>(n));
  }
}

void DsrEngine::handle(size_t length) {
  const std::span<const uint8_t> frame(buffer_.data() + kVnetHeader, length - kVnetHeader);
  if (auto arp = dsr::parse_arp(frame)) {
    handle_arp(*arp, length);
  } else if (auto ip = dsr::parse_ipv4(frame)) {
    handle_ipv4(*ip, length);
  }
}

void DsrEngine::handle_arp(const dsr::Arp& arp, size_t length) {
  const MonoTime now = clock_.now();
  // Whoever speaks ARP tells its own address: learn it if it is a backend's.
  if (auto it = neighbours_.find(arp.sender_ip); it != neighbours_.end()) {
    it->second.mac = arp.sender_mac;
    it->second.known = true;
    it->second.learned = now;
  }
  if (arp.operation != 1 || arp.sender_ip == arp.target_ip) return;  // not a question (or a gratuitous one)
  const bool ours = arp.target_ip == service_ip_;
  if (!ours && !tarpitted(arp.target_ip)) return;
  std::memset(buffer_.data(), 0, kVnetHeader);
  const size_t n = dsr::answer_arp(std::span(buffer_.data() + kVnetHeader, length - kVnetHeader), arp, own_mac_);
  if (send(buffer_.data(), kVnetHeader + n)) bump(cells_.arp_replies);
}

void DsrEngine::handle_ipv4(const dsr::Ipv4Flow& f, size_t length) {
  if (f.destination != service_ip_) {
    if (f.protocol == IPPROTO_TCP && f.syn() && tarpitted(f.destination)) {
      uint8_t reply[kVnetHeader + dsr::kSynAckFrame] = {};
      const std::span<const uint8_t> frame(buffer_.data() + kVnetHeader, length - kVnetHeader);
      const size_t n = dsr::tarpit_syn_ack(std::span(reply + kVnetHeader, dsr::kSynAckFrame), frame, f);
      if (send(reply, kVnetHeader + n)) bump(cells_.tarpitted);
    }
    return;
  }
  if (f.protocol != protocol_ || (service_port_ != 0 && f.destination_port != service_port_)) return;
  const MonoTime now = clock_.now();
  const uint64_t key = uint64_t{f.source} << 16 | f.source_port;
  const Route r = route_for(key, f, now);
  if (r.backend == nullptr) {
    bump(cells_.dropped_no_backend);
    return;
  }
  if (!r.neighbour->known) {
    bump(cells_.dropped_unresolved);  // the client retransmits; the answer will be in by then
    ask(ipv4_of(r.backend->address()), *r.neighbour, now);
    return;
  }
  dsr::readdress(std::span(buffer_.data() + kVnetHeader, length - kVnetHeader), r.neighbour->mac, own_mac_);
  if (!send(buffer_.data(), length)) return;
  const uint64_t bytes = length - kVnetHeader;
  bump(cells_.frames_forwarded);
  bump(cells_.bytes_forwarded, bytes);
  r.backend->add_bytes(0, bytes, 0);
  if (r.flow == nullptr || f.protocol != IPPROTO_TCP) return;
  if (f.rst()) {
    close_flow(*r.flow);
    flows_.erase(key);
  } else if (f.fin()) {
    r.flow->closing = true;
  } else if (f.syn()) {
    r.flow->closing = false;  // the client's port serves a new connection: a flow again
  }
}

DsrEngine::Route DsrEngine::route_for(uint64_t key, const dsr::Ipv4Flow& f, MonoTime now) {
  if (service_.registry().generation() != generation_) {
    generation_ = service_.registry().generation();
    snapshot_ = service_.registry().snapshot();
  }
  auto it = flows_.find(key);
  if (it != flows_.end()) {
    Flow& flow = it->second;
    if (still_serves(flow, now)) {
      flow.last_seen = now;
      return {flow.backend.get(), flow.neighbour, &flow};
    }
    close_flow(flow);  // its backend left, died or was blacklisted: the next choice is Pen's failover
    flows_.erase(it);
  }
  return choose(key, f, now);
}

DsrEngine::Route DsrEngine::choose(uint64_t key, const dsr::Ipv4Flow& f, MonoTime now) {
  const IpKey client = key_of(f.source);
  const RegistrySnapshot& snap = *snapshot_;
  if (!service_.admits(snap, client)) {
    service_.count_rejected_acl(0);
    return {};
  }
  Selection sel = Selector::choose(snap, service_.affinity(), service_.cursor(), client, now);
  if (sel.affinity_break) service_.count_affinity_break(0);
  std::shared_ptr<Backend> chosen;
  if (sel.kind == Selection::Kind::kBackend) chosen = snap.backends[static_cast<size_t>(sel.index)];
  if (sel.kind == Selection::Kind::kEmergency) chosen = snap.emergency;
  if (!chosen || chosen->address().family() != AF_INET) {
    if (sel.reason == Selection::Reject::kStubborn) {
      service_.count_stubborn(0);
    } else {
      service_.count_no_backend(0);
    }
    return {};
  }
  Selector::remember(snap, service_.affinity(), sel, client, now);
  Neighbour* neighbour = &neighbours_[ipv4_of(chosen->address())];
  // Beyond kMaxFlows the snapshot keeps the backend alive for this frame.
  if (flows_.size() >= kMaxFlows) [[unlikely]] return {chosen.get(), neighbour, nullptr};
  service_.count_accepted(0);
  chosen->add_connection(0);
  chosen->connection_opened();
  bump(cells_.flows_opened);
  open_flows_.fetch_add(1, std::memory_order_relaxed);
  if (debug_on()) [[unlikely]] {
    log_debug("service " + service_.name() + ": client " + ip_text(f.source) + ":" + std::to_string(f.source_port) +
              " to " + Selector::describe(snap, sel) + " (direct server return)");
  }
  Backend* b = chosen.get();
  Flow& flow = flows_.emplace(key, Flow{std::move(chosen), neighbour, generation_, now, false}).first->second;
  return {b, neighbour, &flow};
}

bool DsrEngine::still_serves(Flow& flow, MonoTime now) const {
  if (flow.generation != generation_) {
    const Backend* b = flow.backend.get();
    const int i = snapshot_->index_of(b->id());
    if ((i < 0 || snapshot_->backends[static_cast<size_t>(i)].get() != b) && snapshot_->emergency.get() != b) {
      return false;
    }
    flow.generation = generation_;
  }
  return flow.backend->health_up() && !flow.backend->blacklisted(now);
}

void DsrEngine::close_flow(Flow& flow) {
  open_flows_.fetch_sub(1, std::memory_order_relaxed);
  if (flow.backend->connection_closed()) service_.drain_finished(*flow.backend);
}

void DsrEngine::tick(MonoTime now) {
  last_tick_ = now;
  for (auto it = flows_.begin(); it != flows_.end();) {
    const Duration limit = it->second.closing ? kAfterFin : flow_timeout_;
    if (now - it->second.last_seen >= limit) {
      close_flow(it->second);
      it = flows_.erase(it);
    } else {
      ++it;
    }
  }
  auto snap = service_.registry().snapshot();
  auto resolve = [&](const std::shared_ptr<Backend>& b) {
    if (!b || b->address().family() != AF_INET) return;
    const uint32_t ip = ipv4_of(b->address());
    Neighbour& n = neighbours_[ip];
    if (!n.known || now - n.learned >= kNeighbourTtl) ask(ip, n, now);
  };
  for (const auto& b : snap->backends) resolve(b);
  resolve(snap->emergency);
}

void DsrEngine::ask(uint32_t ip, Neighbour& n, MonoTime now) {
  if (n.asked != MonoTime{} && now - n.asked < kAskEvery) return;
  n.asked = now;
  uint8_t request[kVnetHeader + dsr::kArpFrame] = {};
  (void)dsr::arp_request(std::span(request + kVnetHeader, dsr::kArpFrame), own_mac_, own_ip_, ip);
  (void)send(request, sizeof request);
}

bool DsrEngine::tarpitted(uint32_t ip) const {
  const auto list = tarpit_.load(std::memory_order_acquire);
  return !list->empty() && list->permits(key_of(ip));
}

bool DsrEngine::send(const uint8_t* frame, size_t length) {
  if (::send(socket_.get(), frame, length, MSG_DONTWAIT) == static_cast<ssize_t>(length)) return true;
  bump(cells_.dropped_send);
  return false;
}

}  // namespace nib
