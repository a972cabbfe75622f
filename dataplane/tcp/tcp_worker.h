#pragma once
// A worker thread: one epoll loop, its own SO_REUSEPORT listener per TCP
// service, a pool of connection objects and relay buffers reused without
// allocation once warm.
//
// Admission (issue 17, finding 2; issue 11): a client is accepted only when
// it can be served: its service is under its connection limit (-x) and the
// process's descriptor budget has its two descriptors, both reserved before
// accept(). Otherwise the listener leaves epoll and clients wait in the
// kernel's listen backlog, as with Pen. It resumes when a connection closes
// (FdBudget wakes the workers), or after a retry delay when the kernel itself
// refused (EMFILE, ENFILE, ENOMEM...: limits::kAcceptRetry*). None of this is
// a backend's fault: nothing is blacklisted.
//
// Memory: each connection may hold two relay buffers (one per direction,
// taken while bytes wait for a slow reader), so each is admitted only with
// room for both under the worker's share of the relay memory. A buffer is
// then always there when a flow needs one: no flow ever waits for another
// connection's buffer (which could deadlock two directions that wait on each
// other through a backend), and a slow reader costs its own connection
// back-pressure only (a full buffer stops reading its source).
#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "dataplane/event/event_loop.h"
#include "dataplane/log/access_ring.h"
#include "dataplane/resource/fd_budget.h"
#include "dataplane/resource/shortage_counters.h"
#include "dataplane/service/drain_deadlines.h"
#include "dataplane/service/service.h"
#include "dataplane/status_views.h"
#include "dataplane/tcp/pipe_pool.h"
#include "dataplane/tcp/tcp_connection.h"

namespace nib {

class TcpWorker {
 public:
  static constexpr size_t kBufferSize = 64 * 1024;

  // pipe_limit: pipes this worker may hold for the zero-copy relay (0 = copy
  // only); budget: the process's descriptors (outlives the worker);
  // buffer_limit: relay buffers this worker may hold, idle ones included
  // (two per connection: it admits at most buffer_limit / 2 at once).
  // Timers (connect and idle timeouts, drain deadlines) run on `clock`.
  // `workers`: how many the engine runs; connection ids are numbered so that
  // id % workers names the worker.
  // `event_loop`: what its loop waits with (EventLoop falls back to epoll).
  TcpWorker(unsigned index, unsigned workers, size_t pipe_limit, FdBudget& budget, size_t buffer_limit,
            Clock& clock = SystemClock::instance(), LoopBackend event_loop = LoopBackend::kEpoll);
  ~TcpWorker();  // stops and joins
  TcpWorker(const TcpWorker&) = delete;
  TcpWorker& operator=(const TcpWorker&) = delete;

  Status init();
  // Before start(). The worker accepts `service`'s clients on `listener`.
  // `shared`: a Unix socket other workers watch too (TcpEngine says why),
  // registered with EPOLLEXCLUSIVE; its clients have no address and are
  // admitted as 0.0.0.0 port 0, untracked (TcpConnection::Start::anonymous).
  Status add_listener(Service& service, UniqueFd listener, bool shared = false);
  // Any thread. `service`'s listener becomes `listener` (Pen's `listen`): the
  // old one closes on the loop thread, connections accepted from it go on.
  // A paused listener stays paused on the new socket; after stop_accepting()
  // the new one is closed.
  void replace_listener(const Service& service, UniqueFd listener);
  // Any thread. Finished connections are logged there (this worker is its
  // only producer); null: no access log. A ring set once stays alive while
  // the worker runs (see AccessLog), so a worker still filling the old one
  // when it changes is harmless.
  void set_access_ring(AccessRing* ring) { access_ring_.store(ring, std::memory_order_release); }
  void start();

  // Any thread.
  void stop_accepting();
  void close_all();
  void stop();
  int64_t open_connections() const { return open_.load(std::memory_order_relaxed); }
  // Any thread; waits for the loop to answer (empty after `timeout`).
  std::vector<ConnectionInfo> connections(Duration timeout);
  // Any thread; the same for open connection `id` alone (nullopt when none).
  std::optional<ConnectionInfo> connection(uint64_t id, Duration timeout);
  // Any thread; waits for the loop's answer. Closes this worker's open
  // connection `id` (reason kOperator); false when there is none (or the
  // loop did not answer within `timeout`).
  bool close_connection(uint64_t id, Duration timeout);
  // Any thread. At `deadline`, closes this worker's connections to `backend`
  // if its drain number `generation` is still going on (drain_timeout).
  void close_drain_stragglers_at(std::shared_ptr<Backend> backend, uint64_t generation, MonoTime deadline);
  // Any thread. The open connections of `service` take the new idle timeout.
  void set_idle_timeout(const Service& service, Duration timeout);
  // Any thread: something was released (a connection closed, descriptors
  // were given back); paused listeners try again. Posts at most one task.
  void wake_accepting();
  // Any thread.
  void add_shortages(ShortageCounts& sum) const { shortages_.add_to(sum); }
  int64_t paused_listeners() const { return paused_count_.load(std::memory_order_relaxed); }
  size_t relay_buffers() const { return buffers_total_.load(std::memory_order_relaxed); }
  // Before start(). relay: sockmap's maps (shared by all workers; outlives
  // them), or null: the user-space relay only.
  void set_kernel_relay(SockmapRelay* relay) { kernel_relay_ = relay; }
  // Loop thread.
  SockmapRelay* kernel_relay() const { return kernel_relay_; }
  // Loop thread: a connection went into the kernel. Any thread: how many did.
  void count_kernel_relayed() { kernel_relayed_.store(kernel_relayed_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  uint64_t kernel_relayed() const { return kernel_relayed_.load(std::memory_order_relaxed); }

  // Loop thread: the services connections use.
  EventLoop& loop() { return loop_; }
  const EventLoop& loop() const { return loop_; }
  unsigned index() const { return index_; }
  // Loop thread: the id of a connection starting now.
  uint64_t next_connection_id() { return ++serial_ * workers_ + index_; }
  // A relay buffer; a connection never holds more than two.
  std::unique_ptr<char[]> take_buffer();
  void give_buffer(std::unique_ptr<char[]> buffer);
  PipePool& pipes() { return pipes_; }
  FdBudget& budget() { return budget_; }
  ShortageCounters& shortages() { return shortages_; }
  // The kernel refused a connection of `service` something (`what` failed
  // with `err`, a shortage of `resource`): counted, logged once per burst,
  // and this worker's listeners back off.
  void on_shortage(Resource resource, const Service& service, const char* what, int err);
  void retire(TcpConnection* connection);
  // The access log's ring, or null when there is none.
  // Loop thread: read once per connection (a plain load on x86).
  AccessRing* access_ring() const { return access_ring_.load(std::memory_order_acquire); }

 private:
  // Why a listener is out of epoll.
  enum class Pause : uint8_t {
    kNone,
    kLimit,        // its service is at max_connections (-x)
    kPending,      // its service has pending_max clients connecting
    kDescriptors,  // the descriptor budget is short
    kMemory,       // this worker's relay memory is taken by its connections
    kKernel,       // the kernel refused a descriptor or memory
  };

  class Listener final : public EventHandler {
   public:
    Listener(TcpWorker& w, Service& s, UniqueFd fd, bool shared);
    // What it waits for in epoll (EPOLLEXCLUSIVE is allowed on EPOLL_CTL_ADD
    // only, which is how a listener always comes back).
    uint32_t events() const { return shared_ ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN; }
    void on_event(uint32_t /*events*/) override { worker_.accept_from(*this); }
    // Leaves epoll until resume(); `parked`: it holds a park() in the budget.
    void pause(Pause why, bool parked);
    void resume();
    // Forgets a pause (timer, park) without going back into epoll.
    void clear_pause();

    TcpWorker& worker_;
    Service& service_;
    UniqueFd fd_;
    const bool shared_;  // a Unix socket, shared with the other workers
    Timer resume_timer_;
    bool registered_ = false;
    Pause paused_ = Pause::kNone;
    bool parked_ = false;
    PendingSlot pending_;  // reserve() counted a pending client, not yet handed on
    Duration backoff_{};  // kKernel: the next retry delay
    std::shared_ptr<const RegistrySnapshot> snapshot_;
    uint64_t generation_ = 0;
  };

  // Loop thread: a drain deadline passed.
  void close_connections_to(const Backend& backend);

  void accept_from(Listener& l);
  // Reserves a client's service slot and descriptors before accept(): kNone
  // when both were had, otherwise why not (nothing is held then).
  Pause reserve(Listener& l);
  void unreserve(Listener& l);
  // The budget had no descriptors for a client of `service`; this worker's
  // relay memory had no room for one.
  void on_budget_short(const Service& service);
  // A client the ACL denied: one access log line (reason acl).
  void log_denied(AccessRing& ring, const Service& service, const SocketAddress& peer);
  void on_memory_short(const Service& service);
  void admit(Listener& l, UniqueFd client, const SocketAddress& peer);
  // Puts paused listeners back (all, or those paused for `only`).
  void resume_paused(Pause only);
  TcpConnection* acquire();
  void recycle_retired();

  const unsigned index_;
  const unsigned workers_;
  uint64_t serial_ = 0;  // loop thread
  EventLoop loop_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<TcpConnection>> pool_;  // every connection object this worker made
  std::vector<TcpConnection*> free_;
  std::vector<TcpConnection*> retired_;               // closed in this batch; freed after it
  std::vector<std::unique_ptr<char[]>> buffers_;      // idle relay buffers
  const size_t buffer_limit_;
  std::atomic<size_t> buffers_total_{0};              // allocated, idle and in use (written on the loop thread)
  DrainDeadlines drain_deadlines_;
  FdBudget& budget_;
  ShortageCounters shortages_;  // written on the loop thread
  PipePool pipes_;
  std::atomic<int64_t> open_{0};
  std::atomic<int64_t> paused_count_{0};  // listeners out of epoll (written on the loop thread)
  std::atomic<bool> wake_posted_{false};
  std::atomic<AccessRing*> access_ring_{nullptr};
  SockmapRelay* kernel_relay_ = nullptr;
  std::atomic<uint64_t> kernel_relayed_{0};  // written on the loop thread
  std::thread thread_;
};

}  // namespace nib
