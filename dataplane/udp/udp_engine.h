#pragma once
// The UDP half of the dataplane (Pen's -U): binds every UDP service on every
// UDP worker and answers the Dataplane's questions about them. The Dataplane
// owns the Services; the engine only points at them.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/status_views.h"

namespace nib {

class AccessLog;
class Backend;
class FdBudget;
class Service;
class UdpWorker;

class UdpEngine {
 public:
  // Sessions take their descriptor from `budget` (which outlives the engine);
  // the workers' timers (session expiry, drain deadlines) run on `clock`.
  UdpEngine(unsigned workers, FdBudget& budget, Clock& clock = SystemClock::instance());
  ~UdpEngine();  // stops and joins
  UdpEngine(const UdpEngine&) = delete;
  UdpEngine& operator=(const UdpEngine&) = delete;

  // Before start(). `service` (protocol udp) is served as `config` says; a
  // udp_max_sessions of 0 becomes `fd_budget`, one descriptor per session.
  void add_service(Service& service, const ServiceConfig& config, uint64_t fd_budget);
  // Any thread. Worker i logs its sessions into `log`'s ring first_ring + i;
  // null stops logging. `log` must outlive the workers.
  void set_access_log(AccessLog* log, unsigned first_ring);
  // Makes the workers and binds every service on every one (errors come back
  // here, before any thread starts). Call once, then start().
  Status bind();
  // Starts the workers' threads.
  void start();

  // Any thread. Session timeout and limit from a reloaded config; other
  // services are ignored.
  void apply(const ServiceConfig& config);
  // Any thread. Stops relaying: closes the sockets and every session. UDP has
  // no graceful end, and sessions are not connections: nobody waits for them.
  void shut_down();
  // Any thread. Closes everything and joins the workers.
  void stop();

  // Any thread. Fills status->udp, and status->active and max_connections
  // with sessions, when `service` is one of the engine's.
  void fill_status(const Service& service, ServiceStatus* status) const;
  // Any thread. Closes the sessions on `backend` still open at `deadline`
  // if its drain number `generation` is still going on.
  void close_drain_stragglers_at(const std::shared_ptr<Backend>& backend, uint64_t generation, MonoTime deadline);
  // Any thread. Every open session, as connections.
  std::vector<ConnectionInfo> sessions(Duration timeout) const;
  // Any thread. Shortages the workers ran into (a new client's datagram
  // dropped for want of a descriptor, say).
  void add_shortages(ShortageCounts& sum) const;
  bool empty() const { return services_.empty(); }

 private:
  struct Entry {
    Service* service;
    double timeout_seconds;
    uint64_t max_sessions;  // resolved: never 0
  };
  Entry* find(const std::string& name);

  const unsigned workers_count_;
  Clock& clock_;
  FdBudget& budget_;
  uint64_t fd_budget_ = 0;
  AccessLog* access_log_ = nullptr;  // under mutex_
  unsigned first_ring_ = 0;
  mutable std::mutex mutex_;  // guards the entries' settings and the worker list
  std::vector<Entry> services_;  // the set is fixed once started
  std::vector<std::unique_ptr<UdpWorker>> workers_;
};

}  // namespace nib
