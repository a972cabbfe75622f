#pragma once
// Pen's "reliable idling" (penctl `idlers N`): each TCP service with a
// policy's `idlers` > 0 keeps that many idle connections open to its
// backends, spread round-robin over the ones that take new clients. One that
// closes (the backend closed or reset it, its connect failed or timed out) is
// made again, so a backend that drops idle connections keeps being offered
// them: a probe that looks like real, long-lived clients.
//
// Where nib differs from Pen, and why:
//  - Idlers are not client connections: they do not count against a
//    server's soft or hard limit, -x or pending_max, and are not in the
//    connection listings; a drain does not wait for them. Pen counts them,
//    so idlers could fill a server's hard limit and refuse real clients.
//  - A failed idler connect does not blacklist its server (only clients'
//    connects and health checks decide a backend's state); the next attempt
//    goes to the next server.
//  - An idler on a server that stops taking new clients (drained, disabled,
//    down, blacklisted, removed) is closed and made again on another, within
//    a maintenance tick (1 s) or at once on a change through the Dataplane.
//  - A connection that closes within kStable of opening is made again after
//    a backoff (kRetryMin doubling up to kRetryMax), so a backend that
//    accepts and closes at once costs no busy loop.
//
// Everything runs on one EventLoop thread of its own, started on first need.
// Each idler takes one descriptor from the FdBudget (nib's own shortage is
// counted and retried, never the backend's fault). Bytes a backend sends on
// an idle connection are read and discarded. How many are open is on the
// Service (idlers_open()), for the status views.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/event/event_loop.h"
#include "dataplane/resource/fd_budget.h"
#include "dataplane/resource/shortage_counters.h"
#include "dataplane/service/service.h"

namespace nib {

class IdlerPool {
 public:
  struct Target {
    Service* service;  // a TCP service; outlives the pool
    uint32_t wanted;
  };

  static constexpr Duration kTick = std::chrono::seconds(1);
  static constexpr Duration kStable = std::chrono::seconds(1);
  static constexpr Duration kRetryMin = std::chrono::milliseconds(100);
  static constexpr Duration kRetryMax = std::chrono::seconds(5);

  // `budget` may be null (no descriptor accounting).
  IdlerPool(FdBudget* budget, Clock& clock = SystemClock::instance());
  ~IdlerPool();  // stop()
  IdlerPool(const IdlerPool&) = delete;
  IdlerPool& operator=(const IdlerPool&) = delete;

  // Creates the loop and starts its thread. Call once.
  Status start();
  // Any thread. Closes every idler and joins the thread. Idempotent.
  void stop();

  // Any thread. The services that want idlers and how many; a service not
  // listed has none (its idlers close). Applied on the loop thread, which
  // also re-reads every service's backends then (call it after a backend
  // change too, so idlers leave a removed or drained backend at once).
  void set_targets(std::vector<Target> targets);

  // Any thread. Attempts skipped for nib's own shortages.
  void add_shortages(ShortageCounts& sum) const { shortages_.add_to(sum); }

 private:
  class Idler;
  struct Slot;
  friend class Idler;

  void apply_targets(const std::vector<Target>& targets);  // loop thread
  void maintain();                                         // loop thread: the tick

  FdBudget* const budget_;
  EventLoop loop_;
  std::thread thread_;
  bool started_ = false;
  Timer tick_;
  std::vector<std::unique_ptr<Slot>> slots_;  // loop thread only
  ShortageCounters shortages_;                // written on the loop thread
};

}  // namespace nib
