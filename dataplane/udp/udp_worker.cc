#include "dataplane/udp/udp_worker.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <string>

#include "dataplane/base/log.h"
#include "dataplane/net/socket_ops.h"

namespace nib {
namespace {

constexpr int kReceiveRounds = 4;  // recvmmsg batches per wake-up, so one busy socket cannot starve the rest
constexpr int kReplyRounds = 2;
constexpr size_t kControlSize = 64;  // one IP_PKTINFO / IPV6_PKTINFO message
static_assert(CMSG_SPACE(sizeof(in6_pktinfo)) <= kControlSize && CMSG_SPACE(sizeof(in_pktinfo)) <= kControlSize);

// What a connected UDP socket reports after an ICMP error from the backend.
bool is_unreachable(int err) {
  return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH || err == EHOSTDOWN;
}

SocketAddress bound_address_of(int fd) {
  auto a = local_address(fd);
  return a.ok() ? *a : SocketAddress();
}

// The address a session's client reached: the listener's, or for a wildcard
// listener the one its first datagram's control data named.
SocketAddress reached(const UdpListener& l, const UdpSession& s) {
  if (s.local.family == 0 || !l.address.valid()) return l.address;
  sockaddr_storage ss{};
  if (s.local.family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_addr = s.local.v4.ipi_spec_dst;
    sin->sin_port = htons(l.address.port());
    return SocketAddress(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in));
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_addr = s.local.v6.ipi6_addr;
  sin6->sin6_port = htons(l.address.port());
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in6));
}

// The destination a datagram was sent to, from a wildcard listener's control data.
UdpLocalAddress local_from(const msghdr& h) {
  UdpLocalAddress local;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      local.family = AF_INET;
      local.v4.ipi_spec_dst = pi.ipi_addr;  // reply from the address the client used
      local.v4.ipi_ifindex = 0;             // and let routing pick the interface
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      std::memcpy(&local.v6, CMSG_DATA(c), sizeof local.v6);  // the index matters for link-local
      local.family = AF_INET6;
    }
  }
  return local;
}

// Control data making a reply leave from `local`; the length to put in msg_controllen.
size_t put_local(const UdpLocalAddress& local, char* buf) {
  msghdr h{};
  h.msg_control = buf;
  h.msg_controllen = kControlSize;
  cmsghdr* c = CMSG_FIRSTHDR(&h);
  if (local.family == AF_INET) {
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof local.v4);
    std::memcpy(CMSG_DATA(c), &local.v4, sizeof local.v4);
    return CMSG_SPACE(sizeof local.v4);
  }
  c->cmsg_level = IPPROTO_IPV6;
  c->cmsg_type = IPV6_PKTINFO;
  c->cmsg_len = CMSG_LEN(sizeof local.v6);
  std::memcpy(CMSG_DATA(c), &local.v6, sizeof local.v6);
  return CMSG_SPACE(sizeof local.v6);
}

}  // namespace

// ---- counters ----------------------------------------------------------------

void UdpCounterCells::add_to(UdpCounters& s) const {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  s.sessions += get(sessions);
  s.sessions_opened += get(opened);
  s.sessions_expired += get(expired);
  s.sessions_evicted += get(evicted);
  s.backend_refused += get(refused);
  s.datagrams_in += get(datagrams_in);
  s.datagrams_out += get(datagrams_out);
  s.bytes_in += get(bytes_in);
  s.bytes_out += get(bytes_out);
  s.drops_no_backend += get(drops_no_backend);
  s.drops_stubborn += get(drops_stubborn);
  s.drops_no_socket += get(drops_no_socket);
  s.drops_to_backend += get(drops_to_backend);
  s.drops_to_client += get(drops_to_client);
  s.drops_acl += get(drops_acl);
}

// ---- session -------------------------------------------------------------------

void UdpSession::on_event(uint32_t events) { worker_.on_session_event(*this, events); }

void UdpSession::recycle() {
  state = State::kFree;
  listener = nullptr;
  snap.reset();
  sel = Selection{};
  holds_backend = false;
  holds_fd = false;
  local = UdpLocalAddress{};
  datagrams_in = datagrams_out = bytes_in = bytes_out = drops = 0;
}

ConnectionInfo UdpSession::info(MonoTime now) const {
  ConnectionInfo i;
  i.service = listener ? listener->service.name() : "";
  i.worker = worker_.index();
  i.client = client;
  if (state == State::kOpen && snap) {
    if (Backend* b = sel.backend(*snap)) {
      i.backend = b->address();
      i.backend_id = b->id();
    }
  }
  i.age_seconds = std::chrono::duration<double>(now - started).count();
  i.bytes_in = bytes_in;
  i.bytes_out = bytes_out;
  i.protocol = Protocol::kUdp;
  i.datagrams_in = datagrams_in;
  i.datagrams_out = datagrams_out;
  i.drops = drops;
  return i;
}

// ---- listener ------------------------------------------------------------------

UdpListener::UdpListener(UdpWorker& w, Service& s, UniqueFd f, bool wild, const UdpSessionSettings& st)
    : worker(w),
      service(s),
      fd(std::move(f)),
      wildcard(wild),
      address(bound_address_of(fd.get())),
      settings(st),
      expiry([this] { worker.expire(*this); }) {}

void UdpListener::on_event(uint32_t /*events*/) { worker.receive(*this); }

// ---- worker --------------------------------------------------------------------

UdpWorker::UdpWorker(unsigned index, FdBudget& budget, Clock& clock)
    : index_(index),
      budget_(budget),
      loop_(clock),
      drain_deadlines_(loop_, [this](const Backend& b) { close_sessions_to(b); }) {}

UdpWorker::~UdpWorker() { stop(); }

Status UdpWorker::init() {
  if (Status st = loop_.init(); !st.ok()) return st;
  // Allocated once: every datagram after this is relayed through these.
  in_buf_.reset(new char[kBatch * kMaxDatagram]);
  in_iov_.reset(new iovec[kBatch]);
  in_msgs_.reset(new mmsghdr[kBatch]());
  in_send_.reset(new mmsghdr[kBatch]());
  in_send_iov_.reset(new iovec[2 * kBatch]());
  in_addr_.reset(new sockaddr_storage[kBatch]());
  in_control_.reset(new char[kBatch * kControlSize]());
  out_buf_.reset(new char[kBatch * kMaxDatagram]);
  out_iov_.reset(new iovec[kBatch]);
  out_msgs_.reset(new mmsghdr[kBatch]());
  out_addr_.reset(new sockaddr_storage[kBatch]());
  out_control_.reset(new char[kBatch * kControlSize]());
  for (unsigned i = 0; i < kBatch; ++i) {
    in_iov_[i] = {in_buf_.get() + i * kMaxDatagram, kMaxDatagram};
    in_msgs_[i].msg_hdr.msg_iov = &in_iov_[i];
    in_msgs_[i].msg_hdr.msg_iovlen = 1;
    out_iov_[i] = {out_buf_.get() + i * kMaxDatagram, kMaxDatagram};
    out_msgs_[i].msg_hdr.msg_iov = &out_iov_[i];
    out_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  return {};
}

Status UdpWorker::add_listener(Service& service, UniqueFd socket, bool wildcard, const UdpSessionSettings& settings) {
  auto l = std::make_unique<UdpListener>(*this, service, std::move(socket), wildcard, settings);
  // Level-triggered: a batch limit leaves the rest of the queue for the next wake-up.
  if (Status st = loop_.add(l->fd.get(), EPOLLIN, l.get()); !st.ok()) return st;
  listeners_.push_back(std::move(l));
  return {};
}

void UdpWorker::start() {
  thread_ = std::thread([this] {
    const std::string name = "nib-udp-" + std::to_string(index_);  // as the TCP workers
    pthread_setname_np(pthread_self(), name.c_str());
    loop_.run([this] { after_batch(); });
  });
}

void UdpWorker::after_batch() {
  flush_replies();
  for (UdpSession* s : retired_) {
    s->recycle();
    free_.push_back(s);
  }
  retired_.clear();
}

UdpListener* UdpWorker::listener_for(const Service& service) const {
  for (const auto& l : listeners_) {
    if (&l->service == &service) return l.get();
  }
  return nullptr;
}

void UdpWorker::apply(const Service& service, const UdpSessionSettings& settings) {
  UdpListener* l = listener_for(service);
  if (l == nullptr) return;
  loop_.post([this, l, settings] {
    l->settings = settings;
    while (l->table.size() > settings.max_sessions) {
      close_session(*l, static_cast<UdpSession&>(*l->table.oldest()), CloseReason::kLimit);
      UdpCounterCells::add(l->counters.evicted, 1);
    }
    loop_.cancel(l->expiry);
    expire(*l);  // re-arms for the oldest session under the new timeout
  });
}

void UdpWorker::close_all(UdpListener& l) {
  while (!l.table.empty()) close_session(l, static_cast<UdpSession&>(*l.table.oldest()), CloseReason::kShutdown);
  loop_.cancel(l.expiry);
}

void UdpWorker::shut_down() {
  loop_.post([this] {
    flush_replies();
    for (auto& l : listeners_) {
      close_all(*l);
      l->fd.reset();  // closing also drops it from epoll
    }
  });
}

void UdpWorker::stop() {
  if (!thread_.joinable()) return;
  loop_.stop();
  thread_.join();
  out_count_ = 0;  // replies not yet sent are dropped with the sockets
  for (auto& l : listeners_) close_all(*l);
  after_batch();
}

void UdpWorker::add_counters(const Service& service, UdpCounters& sum) const {
  if (UdpListener* l = listener_for(service)) l->counters.add_to(sum);
}

std::vector<ConnectionInfo> UdpWorker::sessions(Duration timeout) {
  auto promise = std::make_shared<std::promise<std::vector<ConnectionInfo>>>();
  auto future = promise->get_future();
  loop_.post([this, promise] {
    std::vector<ConnectionInfo> out;
    MonoTime now = loop_.clock().now();
    for (auto& l : listeners_) {
      for (auto* e = l->table.newest(); e != nullptr; e = UdpSessionTable::older(e)) {
        out.push_back(static_cast<UdpSession*>(e)->info(now));
      }
    }
    promise->set_value(std::move(out));
  });
  if (future.wait_for(timeout) != std::future_status::ready) return {};
  return future.get();
}

UdpSession* UdpWorker::acquire() {
  if (free_.empty()) {
    pool_.push_back(std::make_unique<UdpSession>(*this));
    return pool_.back().get();
  }
  UdpSession* s = free_.back();
  free_.pop_back();
  return s;
}

void UdpWorker::refresh_snapshot(UdpListener& l) {
  uint64_t gen = l.service.registry().generation();
  if (!l.snapshot || gen != l.generation) {
    l.snapshot = l.service.registry().snapshot();
    l.generation = l.snapshot->generation;
  }
}

// ---- client -> backend -------------------------------------------------------

void UdpWorker::receive(UdpListener& l) {
  for (int round = 0; round < kReceiveRounds; ++round) {
    for (unsigned i = 0; i < kBatch; ++i) {
      msghdr& h = in_msgs_[i].msg_hdr;
      in_iov_[i].iov_len = kMaxDatagram;
      h.msg_name = &in_addr_[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_control = l.wildcard ? in_control_.get() + i * kControlSize : nullptr;
      h.msg_controllen = l.wildcard ? kControlSize : 0;
      h.msg_flags = 0;
    }
    int n = ::recvmmsg(l.fd.get(), in_msgs_.get(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;  // drained (EAGAIN); an unconnected socket has no other error to report
    forward(l, static_cast<unsigned>(n));
    if (static_cast<unsigned>(n) < kBatch || !l.fd) return;
  }
}

// Datagrams of one client in a row go out in one sendmmsg. A run is sent
// before another session is opened, since opening may evict the run's session.
void UdpWorker::forward(UdpListener& l, unsigned count) {
  bool in_run = false;
  UdpClientKey run_key;
  UdpSession* run = nullptr;  // null: the run's datagrams are dropped for `run_drop`
  Drop run_drop = Drop::kNone;
  unsigned run_start = 0;
  auto finish_run = [&](unsigned end) {
    if (!in_run) return;
    if (run != nullptr) {
      send_run(l, *run, run_start, end - run_start);
    } else {
      count_drop(l, run_drop, end - run_start);
    }
    in_run = false;
  };
  for (unsigned i = 0; i < count; ++i) {
    const msghdr& h = in_msgs_[i].msg_hdr;
    UdpClientKey key;
    if (!UdpClientKey::from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen, &key)) {
      finish_run(i);  // not IPv4 or IPv6: cannot happen on an inet socket
      continue;
    }
    if (in_run && run_key == key) continue;
    finish_run(i);
    in_run = true;
    run_key = key;
    run_start = i;
    run = static_cast<UdpSession*>(l.table.find(key));
    if (run != nullptr && run->state == UdpSession::State::kOpen && !run->sel.backend(*run->snap)->health_up())
        [[unlikely]] {
      // Its backend went down since: the session ends and the client chooses
      // afresh, like a TCP client whose remembered server is down.
      close_session(l, *run, CloseReason::kBackendClosed);
      run = nullptr;
    }
    if (run == nullptr) run = open_session(l, key, h, &run_drop);
  }
  finish_run(count);
}

// The messages of a run's datagrams [from, count) as s sends them: each alone,
// or behind its PROXY header (which a failover to another backend may change).
void UdpWorker::prepare_sends(const UdpSession& s, unsigned first, unsigned from, unsigned count) {
  for (unsigned k = from; k < count; ++k) {
    msghdr& h = in_send_[k].msg_hdr;
    h = msghdr{};
    if (s.proxy_len == 0) [[likely]] {
      h.msg_iov = &in_iov_[first + k];
      h.msg_iovlen = 1;
      continue;
    }
    iovec* pair = &in_send_iov_[2 * k];
    pair[0] = {const_cast<char*>(s.proxy_header), s.proxy_len};
    pair[1] = in_iov_[first + k];
    h.msg_iov = pair;
    h.msg_iovlen = 2;
  }
}

void UdpWorker::send_run(UdpListener& l, UdpSession& s, unsigned first, unsigned count) {
  for (unsigned k = 0; k < count; ++k) in_iov_[first + k].iov_len = in_msgs_[first + k].msg_len;
  unsigned done = 0;
  while (done < count) {
    if (s.state == UdpSession::State::kFailed) {
      if (Drop d = connect_upstream(l, s); d != Drop::kNone) {
        count_drop(l, d, count - done);
        close_session(l, s, d == Drop::kAcl ? CloseReason::kAcl : CloseReason::kNoBackend);
        return;
      }
    }
    if (s.state != UdpSession::State::kOpen) {  // closed by a refusal with nowhere left to go
      return;
    }
    prepare_sends(s, first, done, count);
    int n = ::sendmmsg(s.upstream.get(), &in_send_[done], count - done, MSG_DONTWAIT);
    if (n > 0) {
      uint64_t bytes = 0;
      for (int k = 0; k < n; ++k) bytes += in_iov_[first + done + k].iov_len;
      done += static_cast<unsigned>(n);
      s.datagrams_in += static_cast<uint64_t>(n);
      s.bytes_in += bytes;
      UdpCounterCells::add(l.counters.datagrams_in, static_cast<uint64_t>(n));
      UdpCounterCells::add(l.counters.bytes_in, bytes);
      Backend* b = s.sel.backend(*s.snap);
      b->add_bytes(index_, bytes, 0);
      b->add_datagrams(index_, static_cast<uint64_t>(n), 0);
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (is_unreachable(err)) {
      // The backend's ICMP error, reported on this send: the datagram was not
      // sent, so it goes to the next server instead.
      if (Drop d = on_refused(l, s); d != Drop::kNone) {
        count_drop(l, d, count - done);
        return;
      }
      continue;
    }
    // Buffer full (or anything else): this datagram is lost, as on any UDP hop.
    ++s.drops;
    count_drop(l, Drop::kToBackend, 1);
    ++done;
  }
  if (UdpSessionTable::contains(&s)) l.table.touch(&s, loop_.now());
}

UdpSession* UdpWorker::open_session(UdpListener& l, const UdpClientKey& key, const msghdr& h, Drop* drop) {
  MonoTime now = loop_.now();
  refresh_snapshot(l);
  SocketAddress client(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
  IpKey ip = client.ip_key();
  Selection sel;
  if (l.service.admits(*l.snapshot, ip)) [[likely]] {
    sel = Selector::choose(*l.snapshot, l.service.affinity(), l.service.cursor(), ip, now);
    if (sel.affinity_break) l.service.count_affinity_break(index_);
  } else {
    // Pen's -B: a session to the abuse server, if there is one to take it.
    sel = Selector::abuse(*l.snapshot, now);
  }
  if (sel.kind == Selection::Kind::kReject) {
    *drop = drop_for(sel.reason);
    return nullptr;
  }
  if (l.table.size() >= l.settings.max_sessions && !l.table.empty()) {
    close_session(l, static_cast<UdpSession&>(*l.table.oldest()), CloseReason::kLimit);
    UdpCounterCells::add(l.counters.evicted, 1);
  }
  if (!budget_.try_acquire(1)) {
    on_shortage(l, Resource::kFd, "new session", 0);
    *drop = Drop::kNoSocket;
    return nullptr;
  }
  UdpSession* s = acquire();
  s->holds_fd = true;
  s->key = key;
  s->listener = &l;
  s->client = client;
  s->client_ip = ip;
  if (l.wildcard) s->local = local_from(h);
  s->snap = l.snapshot;
  s->sel = sel;
  s->started = now;
  s->state = UdpSession::State::kFailed;  // not connected yet
  if (Drop d = connect_upstream(l, *s); d != Drop::kNone) {
    *drop = d;
    budget_.release(1);
    s->recycle();  // never registered anywhere: straight back to the pool
    free_.push_back(s);
    return nullptr;
  }
  l.service.count_accepted(index_);
  l.table.insert(s, now);
  l.counters.sessions.store(l.table.size(), std::memory_order_relaxed);
  if (!l.expiry.armed()) loop_.arm(l.expiry, now + l.settings.timeout);
  return s;
}

// Connects an upstream socket to s.sel's backend, failing over as Pen does
// when a connect fails at once (no route, say): blacklist, then the next one.
UdpWorker::Drop UdpWorker::connect_upstream(UdpListener& l, UdpSession& s) {
  while (s.sel.kind != Selection::Kind::kReject) {
    Backend& b = *s.sel.backend(*s.snap);
    UniqueFd fd(::socket(b.address().family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      int err = errno;
      on_shortage(l, shortage_of(err).value_or(Resource::kFd), "socket", err);
      return Drop::kNoSocket;
    }
    if (!l.service.bind_upstream(fd.get(), s.client, b.address()) ||
        ::connect(fd.get(), b.address().sockaddr_ptr(), b.address().length()) != 0) {
      int err = errno;
      if (auto shortage = shortage_of(err, /*connecting=*/true)) {
        // No local port or memory: nib's shortage, not the backend's failure.
        on_shortage(l, *shortage, "connect", err);
        return Drop::kNoSocket;
      }
      note_failure(l, s, b);
      s.sel = Selector::after_failure(*s.snap, s.sel, s.client_ip, loop_.now());
      continue;
    }
    if (!loop_.add(fd.get(), EPOLLIN, &s).ok()) {
      on_shortage(l, Resource::kMemory, "epoll", ENOMEM);
      return Drop::kNoSocket;
    }
    if (debug_on()) [[unlikely]] log_session(l, s, "session to " + Selector::describe(*s.snap, s.sel));
    s.upstream = std::move(fd);
    b.connection_opened();
    b.add_connection(index_);
    s.holds_backend = true;
    Selector::remember(*s.snap, l.service.affinity(), s.sel, s.client_ip, loop_.now());
    if (s.sel.kind == Selection::Kind::kAbuse) [[unlikely]] l.service.count_abuse(index_);
    s.state = UdpSession::State::kOpen;
    // v2 only: v1 has no UDP form, and the configuration refuses it here.
    const bool proxy = b.proxy_protocol_or(l.service.proxy_protocol()) == ProxyProtocol::kV2;
    s.proxy_len = proxy ? static_cast<uint8_t>(write_proxy_datagram_header(s.client, reached(l, s), s.proxy_header)) : 0;
    UdpCounterCells::add(l.counters.opened, 1);
    return Drop::kNone;
  }
  return drop_for(s.sel.reason);
}

void UdpWorker::on_shortage(UdpListener& l, Resource resource, const char* what, int err) {
  if (!shortages_.record(resource)) return;
  std::string why = err != 0 ? std::string(std::strerror(err))
                             : "the " + std::to_string(budget_.capacity()) + " descriptors of the budget are in use";
  log_warn("service " + l.service.name() + ": " + what + ": " + why + "; new clients' datagrams are dropped, " +
           "open sessions go on (" + to_string(resource) + " short: not a backend's fault; counted in " +
           "nib_resource_exhausted_total, logged once per burst)");
}

void UdpWorker::note_failure(UdpListener& l, UdpSession& s, Backend& b) {
  MonoTime now = loop_.now();
  b.add_failure(index_);
  UdpCounterCells::add(l.counters.refused, 1);
  Duration blacklist = seconds_to_duration(s.snap->policy.blacklist_seconds);
  if (blacklist > Duration::zero() && !b.blacklisted(now)) {
    b.blacklist_until(now + blacklist);
    const char* who = s.sel.kind == Selection::Kind::kAbuse ? ": the abuse server " : ": backend ";
    log_warn("service " + l.service.name() + who + b.address().to_string() +
             " is unreachable (udp); blacklisted for " + std::to_string(s.snap->policy.blacklist_seconds) + " s");
  }
  // Pen's passive check feeding the health state, as for a refused TCP connect.
  if (b.passive_failure("a client's datagram was refused")) l.service.passive_down(b, "a client's datagram was refused");
}

// The backend behind an open session answered with an ICMP error: blacklist
// it and let the client's next datagram go to the next server (Pen's
// failover). kNone when the session may go on; otherwise it was closed.
UdpWorker::Drop UdpWorker::on_refused(UdpListener& l, UdpSession& s) {
  Backend& b = *s.sel.backend(*s.snap);
  note_failure(l, s, b);
  s.upstream.reset();  // closing also drops it from epoll
  release_backend(l, s);
  if (debug_on()) [[unlikely]] log_session(l, s, Selector::describe(*s.snap, s.sel) + " refused a datagram");
  s.sel = Selector::after_failure(*s.snap, s.sel, s.client_ip, loop_.now());
  if (s.sel.kind == Selection::Kind::kReject) {
    Drop d = drop_for(s.sel.reason);
    close_session(l, s, d == Drop::kAcl ? CloseReason::kAcl : CloseReason::kNoBackend);
    return d;
  }
  s.state = UdpSession::State::kFailed;
  return Drop::kNone;
}

void UdpWorker::count_drop(UdpListener& l, Drop reason, uint64_t n) {
  if (n == 0) return;
  switch (reason) {
    case Drop::kNone: return;
    case Drop::kNoBackend: UdpCounterCells::add(l.counters.drops_no_backend, n); return;
    case Drop::kStubborn: UdpCounterCells::add(l.counters.drops_stubborn, n); return;
    case Drop::kNoSocket: UdpCounterCells::add(l.counters.drops_no_socket, n); return;
    case Drop::kToBackend: UdpCounterCells::add(l.counters.drops_to_backend, n); return;
    case Drop::kAcl: UdpCounterCells::add(l.counters.drops_acl, n); return;
  }
}

// ---- backend -> client -------------------------------------------------------

void UdpWorker::on_session_event(UdpSession& s, uint32_t events) {
  if (s.state != UdpSession::State::kOpen) return;  // closed earlier in this batch
  UdpListener& l = *s.listener;
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.upstream.get(), SOL_SOCKET, SO_ERROR, &err, &len);  // reads and clears it
    if (is_unreachable(err)) {
      on_refused(l, s);
      return;
    }
  }
  if (events & EPOLLIN) read_replies(l, s);
}

void UdpWorker::read_replies(UdpListener& l, UdpSession& s) {
  Backend* backend = s.sel.backend(*s.snap);
  for (int round = 0; round < kReplyRounds; ++round) {
    if (out_count_ == kBatch) flush_replies();
    const unsigned room = kBatch - out_count_;
    for (unsigned k = out_count_; k < kBatch; ++k) {
      msghdr& h = out_msgs_[k].msg_hdr;
      out_iov_[k].iov_len = kMaxDatagram;
      h.msg_name = nullptr;
      h.msg_namelen = 0;
      h.msg_control = nullptr;
      h.msg_controllen = 0;
      h.msg_flags = 0;
    }
    int n = ::recvmmsg(s.upstream.get(), &out_msgs_[out_count_], room, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (is_unreachable(errno)) on_refused(l, s);
      return;  // EAGAIN: drained
    }
    for (unsigned k = out_count_; k < out_count_ + static_cast<unsigned>(n); ++k) {
      msghdr& h = out_msgs_[k].msg_hdr;
      out_iov_[k].iov_len = out_msgs_[k].msg_len;
      std::memcpy(&out_addr_[k], s.client.sockaddr_ptr(), s.client.length());
      h.msg_name = &out_addr_[k];
      h.msg_namelen = s.client.length();
      if (s.local.family != 0) {
        h.msg_control = out_control_.get() + k * kControlSize;
        h.msg_controllen = put_local(s.local, out_control_.get() + k * kControlSize);
      }
      out_session_[k] = &s;
      out_backend_[k] = backend;
    }
    out_count_ += static_cast<unsigned>(n);
    if (n > 0) l.table.touch(&s, loop_.now());
    if (static_cast<unsigned>(n) < room) return;
  }
}

// Runs of replies for one listening socket go out in one sendmmsg each.
// Sessions closed in this batch are still intact: they are recycled after it.
void UdpWorker::flush_replies() {
  unsigned i = 0;
  while (i < out_count_) {
    UdpListener& l = *out_session_[i]->listener;
    unsigned end = i + 1;
    while (end < out_count_ && out_session_[end]->listener == &l) ++end;
    while (i < end) {
      int n = l.fd ? ::sendmmsg(l.fd.get(), &out_msgs_[i], end - i, MSG_DONTWAIT) : -1;
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {  // buffer full, or the listener is gone: this reply is lost
        ++out_session_[i]->drops;
        UdpCounterCells::add(l.counters.drops_to_client, 1);
        ++i;
        continue;
      }
      uint64_t total = 0;
      for (unsigned k = i; k < i + static_cast<unsigned>(n); ++k) {
        uint64_t bytes = out_msgs_[k].msg_len;
        UdpSession& s = *out_session_[k];
        ++s.datagrams_out;
        s.bytes_out += bytes;
        out_backend_[k]->add_bytes(index_, 0, bytes);
        out_backend_[k]->add_datagrams(index_, 0, 1);
        total += bytes;
      }
      UdpCounterCells::add(l.counters.datagrams_out, static_cast<uint64_t>(n));
      UdpCounterCells::add(l.counters.bytes_out, total);
      i += static_cast<unsigned>(n);
    }
  }
  out_count_ = 0;
}

// ---- session lifetime ------------------------------------------------------

// Sessions leave in LRU order, which is also idle order: the timer is armed
// for the oldest only and re-armed lazily, so traffic costs no timer work.
void UdpWorker::expire(UdpListener& l) {
  MonoTime now = loop_.now();
  while (UdpSessionTable::Entry* e = l.table.oldest()) {
    MonoTime deadline = e->last_active + l.settings.timeout;
    if (deadline > now) {
      loop_.arm(l.expiry, deadline);
      return;
    }
    close_session(l, static_cast<UdpSession&>(*e), CloseReason::kIdle);
    UdpCounterCells::add(l.counters.expired, 1);
  }
}

void UdpWorker::release_backend(UdpListener& l, UdpSession& s) {
  if (!s.holds_backend) return;
  s.holds_backend = false;
  Backend& b = *s.sel.backend(*s.snap);
  // Rarely true: this was the last session of a draining backend.
  if (b.connection_closed()) [[unlikely]] l.service.drain_finished(b);
}

void UdpWorker::log_session(const UdpListener& l, const UdpSession& s, const std::string& what) {
  Log::write(LogLevel::kDebug, "service " + l.service.name() + ": client " + s.client.to_string() + ": " + what);
}

void UdpWorker::close_session(UdpListener& l, UdpSession& s, CloseReason why) {
  if (s.state == UdpSession::State::kFree || s.state == UdpSession::State::kClosed) return;
  if (AccessRing* ring = access_ring_.load(std::memory_order_acquire)) log_access(*ring, l, s, why);
  if (debug_on()) [[unlikely]] {
    log_session(l, s, "session closed: " + std::to_string(s.bytes_in) + " bytes in, " + std::to_string(s.bytes_out) +
                          " bytes out");
  }
  if (UdpSessionTable::contains(&s)) {
    l.table.erase(&s);
    l.counters.sessions.store(l.table.size(), std::memory_order_relaxed);
  }
  release_backend(l, s);
  if (s.sel.kind == Selection::Kind::kBackend && s.snap->policy.mode != BalanceMode::kRoundRobin) {
    l.service.affinity().add_bytes(s.client_ip, s.bytes_in, s.bytes_out);
  }
  s.upstream.reset();
  if (s.holds_fd) budget_.release(1);
  s.holds_fd = false;
  s.state = UdpSession::State::kClosed;
  retired_.push_back(&s);
}

void UdpWorker::log_access(AccessRing& ring, const UdpListener& l, const UdpSession& s, CloseReason why) {
  // As TcpConnection::log_access: filled in place, formatted by the writer.
  AccessRecord* r = ring.claim();
  if (!r) return;  // the ring is full: counted as dropped
  r->unix_ns = wall_clock_ns();
  r->duration_us = std::chrono::duration_cast<std::chrono::microseconds>(loop_.now() - s.started).count();
  r->connect_us = -1;  // a UDP "connect" only names the peer
  r->bytes_in = s.bytes_in;
  r->bytes_out = s.bytes_out;
  r->service = &l.service.name();
  r->client = s.client;
  const Backend* b = s.holds_backend && s.snap ? s.sel.backend(*s.snap) : nullptr;
  r->backend = b ? b->address() : SocketAddress();
  r->backend_source_port = b && s.upstream ? local_port(s.upstream.get()) : 0;
  r->failovers = 0;
  r->reason = why;
  r->protocol = Protocol::kUdp;
  r->request_len = 0;
  ring.publish();
}

void UdpWorker::close_drain_stragglers_at(std::shared_ptr<Backend> backend, uint64_t generation,
                                          MonoTime deadline) {
  drain_deadlines_.add(std::move(backend), generation, deadline);
}

void UdpWorker::close_sessions_to(const Backend& backend) {
  for (auto& l : listeners_) {
    for (auto* e = l->table.newest(); e != nullptr;) {
      auto& s = static_cast<UdpSession&>(*e);
      e = UdpSessionTable::older(e);  // before closing takes s out of the table
      if (s.holds_backend && s.sel.backend(*s.snap) == &backend) close_session(*l, s, CloseReason::kDrained);
    }
  }
}

}  // namespace nib
