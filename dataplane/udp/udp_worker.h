#pragma once
// A UDP worker thread: one epoll loop, its own SO_REUSEPORT socket per UDP
// service (the kernel hashes a client's address:port to one socket, so each
// client's sessions live on one worker and need no locks), per-service session
// tables, and batch buffers for recvmmsg/sendmmsg reused for every datagram.
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/event/event_loop.h"
#include "dataplane/log/access_ring.h"
#include "dataplane/resource/fd_budget.h"
#include "dataplane/resource/shortage_counters.h"
#include "dataplane/service/drain_deadlines.h"
#include "dataplane/service/service.h"
#include "dataplane/status_views.h"
#include "dataplane/udp/udp_session.h"
#include "dataplane/udp/udp_session_table.h"

namespace nib {

struct UdpSessionSettings {
  Duration timeout{};         // idle time after which a session ends (> 0)
  uint64_t max_sessions = 1;  // this worker's share of the service's limit (>= 1)
};

// Counters of one service on one worker: written by the worker only (a plain
// load and store, no locked instruction), read by any thread.
struct UdpCounterCells {
  std::atomic<uint64_t> sessions{0}, opened{0}, expired{0}, evicted{0}, refused{0};
  std::atomic<uint64_t> datagrams_in{0}, datagrams_out{0}, bytes_in{0}, bytes_out{0};
  std::atomic<uint64_t> drops_no_backend{0}, drops_stubborn{0}, drops_no_socket{0};
  std::atomic<uint64_t> drops_to_backend{0}, drops_to_client{0}, drops_acl{0};

  static void add(std::atomic<uint64_t>& c, uint64_t n) { bump(c, n); }
  void add_to(UdpCounters& sum) const;  // any thread
};

// One UDP service on one worker: the listening socket, the sessions, the
// idle-expiry timer (armed for the oldest session only) and the counters.
class UdpListener final : public EventHandler {
 public:
  UdpListener(UdpWorker& worker, Service& service, UniqueFd fd, bool wildcard,
              const UdpSessionSettings& settings);
  void on_event(uint32_t events) override;

  UdpWorker& worker;
  Service& service;
  UniqueFd fd;
  const bool wildcard;  // bound to 0.0.0.0 / [::]: replies carry the client's destination address
  const SocketAddress address;  // as bound (a PROXY header's destination)
  UdpSessionSettings settings;
  UdpSessionTable table;
  Timer expiry;
  std::shared_ptr<const RegistrySnapshot> snapshot;
  uint64_t generation = 0;
  alignas(64) UdpCounterCells counters;
};

class UdpWorker {
 public:
  // Receive buffers hold any UDP payload (65,507 bytes over IPv4, 65,527 over
  // IPv6), so nothing is ever truncated.
  static constexpr size_t kMaxDatagram = 65536;
  static constexpr unsigned kBatch = 32;  // datagrams per recvmmsg / sendmmsg

  // A session's upstream socket is taken from `budget` first: when it is
  // short, a new client's datagrams are dropped (drops_no_socket), while the
  // sessions that exist go on. Session expiry and drain deadlines run on `clock`.
  UdpWorker(unsigned index, FdBudget& budget, Clock& clock = SystemClock::instance());
  ~UdpWorker();  // stops and joins
  UdpWorker(const UdpWorker&) = delete;
  UdpWorker& operator=(const UdpWorker&) = delete;

  Status init();
  // Before start(). The worker relays `service`'s datagrams arriving on `socket`.
  Status add_listener(Service& service, UniqueFd socket, bool wildcard, const UdpSessionSettings& settings);
  // Any thread: the access log's ring for this worker's sessions, or null.
  void set_access_ring(AccessRing* ring) { access_ring_.store(ring, std::memory_order_release); }
  void start();

  // Any thread.
  // New settings for `service` (a reload): a smaller limit evicts at once.
  void apply(const Service& service, const UdpSessionSettings& settings);
  // Closes the listening sockets and every session.
  void shut_down();
  void stop();
  // Sums this worker's counters for `service` into `sum`.
  void add_counters(const Service& service, UdpCounters& sum) const;
  void add_shortages(ShortageCounts& sum) const { shortages_.add_to(sum); }
  // Waits for the loop to answer (empty after `timeout`).
  std::vector<ConnectionInfo> sessions(Duration timeout);
  // At `deadline`, closes this worker's sessions on `backend` if its drain
  // number `generation` is still going on (drain_timeout).
  void close_drain_stragglers_at(std::shared_ptr<Backend> backend, uint64_t generation, MonoTime deadline);

  unsigned index() const { return index_; }

 private:
  friend class UdpListener;
  friend class UdpSession;
  enum class Drop { kNone, kNoBackend, kStubborn, kNoSocket, kToBackend, kAcl };
  // Why a client had no server: kAcl for a denied client with no abuse server
  // to take it (its datagrams count as drops_acl, as without -B).
  static Drop drop_for(Selection::Reject reason) {
    if (reason == Selection::Reject::kDenied) return Drop::kAcl;
    return reason == Selection::Reject::kStubborn ? Drop::kStubborn : Drop::kNoBackend;
  }

  void receive(UdpListener& l);
  void forward(UdpListener& l, unsigned count);
  void send_run(UdpListener& l, UdpSession& s, unsigned first, unsigned count);
  void prepare_sends(const UdpSession& s, unsigned first, unsigned from, unsigned count);
  // Null when the client's datagrams must be dropped, for *drop.
  UdpSession* open_session(UdpListener& l, const UdpClientKey& key, const msghdr& h, Drop* drop);
  Drop connect_upstream(UdpListener& l, UdpSession& s);
  // nib could not have what a new session needs (`what` failed with `err`,
  // or the budget was short: err 0): counted, logged once per burst.
  void on_shortage(UdpListener& l, Resource resource, const char* what, int err);
  Drop on_refused(UdpListener& l, UdpSession& s);
  void note_failure(UdpListener& l, UdpSession& s, Backend& b);
  void count_drop(UdpListener& l, Drop reason, uint64_t n);
  void on_session_event(UdpSession& s, uint32_t events);
  void read_replies(UdpListener& l, UdpSession& s);
  void flush_replies();
  void expire(UdpListener& l);
  // Ends the session's claim on its backend (its active count, a drain).
  void release_backend(UdpListener& l, UdpSession& s);
  // `why` goes to the access log (one line per session).
  void close_session(UdpListener& l, UdpSession& s, CloseReason why);
  void log_access(AccessRing& ring, const UdpListener& l, const UdpSession& s, CloseReason why);
  // A -d line about a session, built only behind debug_on() (cold).
  static void log_session(const UdpListener& l, const UdpSession& s, const std::string& what);
  void close_all(UdpListener& l);
  void refresh_snapshot(UdpListener& l);
  UdpListener* listener_for(const Service& service) const;
  UdpSession* acquire();
  void after_batch();
  // A drain deadline passed.
  void close_sessions_to(const Backend& backend);

  const unsigned index_;
  FdBudget& budget_;
  ShortageCounters shortages_;  // written on the loop thread
  EventLoop loop_;
  std::vector<std::unique_ptr<UdpListener>> listeners_;  // fixed once started
  std::vector<std::unique_ptr<UdpSession>> pool_;         // every session object this worker made
  std::vector<UdpSession*> free_;
  std::vector<UdpSession*> retired_;  // closed in this batch; reusable after it

  // Client -> backend: one recvmmsg batch.
  std::unique_ptr<char[]> in_buf_;
  std::unique_ptr<iovec[]> in_iov_;
  std::unique_ptr<mmsghdr[]> in_msgs_;
  std::unique_ptr<mmsghdr[]> in_send_;  // the same iovecs, addressless, for connected sockets
  std::unique_ptr<iovec[]> in_send_iov_;  // 2 per datagram: a session's PROXY header, then the datagram
  std::unique_ptr<sockaddr_storage[]> in_addr_;
  std::unique_ptr<char[]> in_control_;

  // Backend -> client: replies queued during an event batch, sent with
  // sendmmsg on the listening sockets after it.
  std::unique_ptr<char[]> out_buf_;
  std::unique_ptr<iovec[]> out_iov_;
  std::unique_ptr<mmsghdr[]> out_msgs_;
  std::unique_ptr<sockaddr_storage[]> out_addr_;
  std::unique_ptr<char[]> out_control_;
  UdpSession* out_session_[kBatch] = {};
  Backend* out_backend_[kBatch] = {};
  unsigned out_count_ = 0;

  DrainDeadlines drain_deadlines_;
  std::atomic<AccessRing*> access_ring_{nullptr};  // see TcpWorker::set_access_ring
  std::thread thread_;
};

}  // namespace nib
