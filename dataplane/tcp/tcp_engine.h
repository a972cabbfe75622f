#pragma once
// The TCP half of the dataplane (UdpEngine's sibling): the TCP workers, each
// with its own SO_REUSEPORT listener per TCP service, and the Dataplane's
// questions about them. The Dataplane owns the Services; the engine only
// points at them.
//
// A service with a Unix socket listen path has one listening socket: the
// kernel spreads clients over SO_REUSEPORT sockets for TCP and UDP only, so
// per-worker Unix sockets at one path cannot exist (the second bind fails).
// Every worker watches a duplicate of that one socket with EPOLLEXCLUSIVE,
// so a client wakes one worker (or a few), not all of them; a worker woken
// for a client another one took finds EAGAIN and waits again. Any worker
// count works, and a worker paused at its own limits leaves new clients to
// the others (those already waiting when it paused go to the next worker a
// new client wakes, or to it when it resumes). The engine removes the socket
// file when it stops.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/status_views.h"

namespace nib {

class AccessLog;
class Backend;
class FdBudget;
class Service;
class TcpWorker;
class SockmapRelay;

class TcpEngine {
 public:
  // pipes_per_worker: pipes each worker may hold for the zero-copy relay
  // (0 = always copy). budget: the process's descriptors (outlives the
  // engine); relay_memory: bytes of relay buffers all workers may hold, split
  // evenly. The workers' timers (connect and idle timeouts, drain deadlines)
  // run on `clock`.
  TcpEngine(unsigned workers, size_t pipes_per_worker, FdBudget& budget, uint64_t relay_memory,
            Clock& clock = SystemClock::instance(), LoopBackend event_loop = LoopBackend::kEpoll);
  ~TcpEngine();  // stops and joins
  TcpEngine(const TcpEngine&) = delete;
  TcpEngine& operator=(const TcpEngine&) = delete;

  // Before bind(). relay: sockmap's maps for every worker (outlives the
  // engine); null (the default): the user-space relay only.
  void set_kernel_relay(SockmapRelay* relay) { kernel_relay_ = relay; }
  // Before bind(). `service` (protocol tcp) is accepted on every worker.
  void add_service(Service& service);
  // Any thread. Worker i logs into `log`'s ring i (it has one per worker);
  // null stops logging. `log` must outlive the workers.
  void set_access_log(AccessLog* log);
  // Makes the workers and binds every service on every one (errors come back
  // here, before any thread starts). Call once, then start().
  Status bind();
  // Starts the workers' threads.
  void start();

  // Any thread. Pen's `listen [addr:]port`: `service` listens on `address`
  // (an IP listener only: a Unix socket path service is kInvalidArgument)
  // from now on (port 0: one the kernel picks). Every worker's new socket is
  // bound first, so an error (the port is taken, say) changes nothing; then
  // the workers swap listeners and close the old ones, whose open
  // connections go on (clients still in their accept queue are reset, as
  // with Pen's close and reopen).
  [[nodiscard]] Status rebind(Service& service, const SocketAddress& address);
  // Any thread. Graceful stop: closes the listeners; open connections go on.
  void stop_accepting();
  // Any thread. Closes everything, joins the workers and removes the Unix
  // socket files bind() made.
  void stop();

  // Any thread.
  int64_t open_connections() const;
  // After bind(): what the workers' loops wait with (the one asked for
  // before any worker exists).
  LoopBackend event_loop() const;
  // Any thread. Every open connection (empty from a worker that does not
  // answer within `timeout`).
  std::vector<ConnectionInfo> connections(Duration timeout) const;
  // Any thread. Open connection `id`, asked of the one worker that owns it.
  std::optional<ConnectionInfo> connection(uint64_t id, Duration timeout) const;
  // Any thread. Closes open connection `id` (ConnectionInfo::id); false when
  // none is open under it.
  bool close_connection(uint64_t id, Duration timeout) const;
  // Any thread. Closes the connections to `backend` still open at `deadline`
  // if its drain number `generation` is still going on.
  void close_drain_stragglers_at(const std::shared_ptr<Backend>& backend, uint64_t generation, MonoTime deadline);
  // Any thread. The open connections of `service` idle out by `timeout` from
  // now on (zero: never), counted from their last activity.
  void set_idle_timeout(const Service& service, Duration timeout);
  bool empty() const { return services_.empty(); }
  // Any thread: the workers' relay memory, paused listeners and shortages.
  void add_resources(ResourceStatus& r) const;

 private:
  const unsigned workers_count_;
  const size_t pipes_per_worker_;
  FdBudget& budget_;
  const uint64_t relay_memory_;
  Clock& clock_;
  const LoopBackend event_loop_;
  SockmapRelay* kernel_relay_ = nullptr;
  AccessLog* access_log_ = nullptr;
  std::vector<Service*> services_;  // the set is fixed once started
  mutable std::mutex mutex_;  // guards the worker list, so stop() is safe while others ask
  std::vector<std::unique_ptr<TcpWorker>> workers_;
  std::vector<std::string> unix_paths_;  // socket files bind() made, removed by stop()

  // Under mutex_: `service`'s one Unix socket, shared by every worker.
  Status bind_unix(Service& service);
};

}  // namespace nib
