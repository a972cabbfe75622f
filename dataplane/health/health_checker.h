#pragma once
// Active health checks: one probe per checked backend, all on one EventLoop
// thread of their own, so a slow or silent backend never stalls a worker and
// a probe never blocks (non-blocking connect, timers for interval and timeout).
//
// State machine (HAProxy's rise/fall): an up backend goes down after `fall`
// consecutive failed checks, a down one comes up after `rise` consecutive
// passes. A backend seen by the checker for the first time is up, but its first
// failure takes it down (as if `fall - 1` had already failed): at startup a
// dead server leaves rotation after one timeout, not fall intervals. The
// decision is written to the Backend (health_up(), one relaxed load for the
// selectors) and announced through the listener.
//
// Checks start `interval` apart, measured from the start of the previous one
// (timeout < interval, so at most one is in flight per backend): a failure is
// detected within interval × fall (+ one timeout), recovery within
// interval × rise.
//
// Check types: tcp (the connect succeeds), http (status in a range, optional
// body substring; "Connection: close"), send-expect (optional bytes sent, then
// bytes or a pattern expected in the reply), udp (one datagram from a
// connected socket; a reply, optionally matching, passes; an ICMP port
// unreachable or the timeout fails). Every check reads and examines at most
// limits::kMaxCheckReplyBytes of a reply; patterns run on a linear-time
// matcher (dataplane/base/linear_regex.h), whatever a backend sends.
//
// nib's own shortage (no descriptor, memory or local port for a probe) is no
// verdict: that check is skipped and counted (shortages()), the backend's
// state stays.
//
// Probes close with a reset (SO_LINGER 0): no TIME_WAIT socket per check.
//
// Passive failures (a client's connect refused or timed out) feed the same
// state: Backend::passive_failure() takes a checked backend down at once, and
// only this checker's rise brings it back (clearing Pen's blacklist then).
//
// Affinity: a client whose remembered server is down fails over and its entry
// is updated (unless stubborn). When the server comes back the client stays
// where it now is: moving it back would break its session a second time and
// make a flapping server drag its clients with it.
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/event/event_loop.h"
#include "dataplane/registry/backend.h"
#include "dataplane/resource/shortage_counters.h"

namespace nib {

class HealthChecker {
 public:
  struct Target {
    std::string service;
    std::shared_ptr<Backend> backend;
    HealthCheckConfig config;
    // The service's PROXY protocol (the backend's own, read at each check,
    // wins): an HTTP or send/expect check opens with its LOCAL form, as a
    // backend that requires a header expects.
    ProxyProtocol proxy_protocol = ProxyProtocol::kOff;
  };
  // Called on the checker thread after a backend's health changed.
  using Listener = std::function<void(const std::string& service, const Backend& backend, bool up,
                                      const std::string& reason)>;

  // Intervals, timeouts and check durations are measured on `clock`.
  explicit HealthChecker(Listener on_change, Clock& clock = SystemClock::instance());
  ~HealthChecker();  // stop()
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Creates the loop and starts its thread. Call once.
  Status start();
  // Any thread. Cancels every probe and joins the thread. Idempotent.
  void stop();

  // Any thread. Checks skipped for nib's own shortages.
  void add_shortages(ShortageCounts& sum) const { shortages_.add_to(sum); }

  // Any thread. Replaces the set of checked backends. A backend whose config is
  // unchanged keeps its probe (and counters); a changed config restarts its
  // probe but keeps the backend's current state; a backend no longer listed
  // stops being checked and counts as healthy again.
  void set_targets(std::vector<Target> targets);

 private:
  class Probe;
  friend class Probe;
  void apply_targets(std::vector<Target> targets);  // loop thread
  // Loop thread: a probe's rise/fall decision changed the backend's state.
  void announce(const Probe& probe, bool up, const std::string& reason);

  Listener on_change_;
  EventLoop loop_;
  std::thread thread_;
  bool started_ = false;
  std::vector<std::unique_ptr<Probe>> probes_;  // loop thread only
  std::minstd_rand rng_{std::random_device{}()};  // loop thread only (jitter)
  std::unique_ptr<char[]> datagram_;  // loop thread only: udp replies are read here
  ShortageCounters shortages_;        // written on the loop thread
};

}  // namespace nib
