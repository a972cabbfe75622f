#pragma once
// One backend server of a service. Shared by every worker: identity is
// immutable, settings are atomics updated in place (so counters survive a
// reload), counters are per worker (one writer each, summed by readers) so no
// cache line is written by two workers per request.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/base/latency_histogram.h"
#include "dataplane/base/per_worker.h"
#include "dataplane/config/limits.h"
#include "dataplane/config/service_config.h"
#include "dataplane/net/socket_address.h"

namespace nib {

enum class AdminState : uint8_t { kEnabled, kDraining, kDisabled };
const char* to_string(AdminState state);

// The state the API shows: the admin state wins, then health.
enum class BackendState : uint8_t { kUp, kDown, kDraining, kDisabled };
const char* to_string(BackendState state);

// Health as last decided, with why and when (written by the health checker,
// read by status views). `changed` is the epoch when nothing ever changed.
struct HealthInfo {
  bool up = true;
  bool checked = false;  // an active check runs for this backend
  std::string reason;    // of the last change, e.g. "3 checks failed: connect refused"
  std::chrono::system_clock::time_point changed{};
  // The last check (checked only).
  bool last_check_ok = false;
  std::string last_check;  // "ok" or the failure, e.g. "status 500"
  double last_check_ms = 0;
  std::chrono::system_clock::time_point last_check_time{};
  uint64_t checks = 0;       // checks finished since the backend was created
  uint64_t transitions = 0;  // up <-> down changes since the backend was created
};

// What an operator may change on a backend at runtime; unset fields stay.
struct BackendPatch {
  std::optional<uint32_t> weight;
  std::optional<uint32_t> prio;
  std::optional<uint32_t> soft_limit;
  std::optional<uint32_t> hard_limit;
  std::optional<bool> enabled;  // false = disabled by the operator, true = back in rotation
  // Set: the backend's own PROXY version from now on, nullopt inside meaning
  // "the service's" again.
  std::optional<std::optional<ProxyProtocol>> proxy_protocol;
  std::optional<bool> tcp_fast_open;  // for connections made from now on
  // A new address (resolved by the caller) and the host it was given as.
  std::optional<SocketAddress> address;
  std::string host;
};

// Ranges of the settings (dataplane/config/limits.h, as every front end).
inline constexpr auto kMaxWeight = static_cast<uint32_t>(limits::kWeight.max);
inline constexpr auto kMaxPrio = static_cast<uint32_t>(limits::kPrio.max);
inline constexpr auto kMaxConnectionLimit = static_cast<uint32_t>(limits::kConnectionLimit.max);

struct BackendCounters {
  uint64_t connections = 0;      // connects that succeeded
  uint64_t connect_failures = 0; // refused, reset or timed out
  uint64_t bytes_in = 0;         // client -> backend
  uint64_t bytes_out = 0;        // backend -> client
  uint64_t datagrams_in = 0;     // UDP: client -> backend
  uint64_t datagrams_out = 0;    // UDP: backend -> client
  LatencyHistogram connect_latency;  // TCP: connect() to established, successful connects
};

class Backend {
 public:
  // `clock` dates what the backend decides on time: the slow start it begins
  // when it comes up. Blacklist checks take `now` from the caller's loop.
  Backend(uint32_t id, const BackendConfig& config, unsigned workers, const Clock& clock = SystemClock::instance());

  uint32_t id() const { return id_; }
  const SocketAddress& address() const { return address_; }
  const std::string& host() const { return host_; }
  // Who made it (BackendConfig::source): fixed for its lifetime.
  const std::string& source() const { return source_; }

  // Settings. Any thread.
  void apply(const BackendConfig& config);
  BackendConfig config() const;
  uint32_t soft_limit() const { return soft_limit_.load(std::memory_order_relaxed); }
  uint32_t hard_limit() const { return hard_limit_.load(std::memory_order_relaxed); }
  uint32_t weight() const { return weight_.load(std::memory_order_relaxed); }
  uint32_t prio() const { return prio_.load(std::memory_order_relaxed); }
  // Its own PROXY version; nullopt: the service's.
  std::optional<ProxyProtocol> proxy_protocol() const;
  // TCP Fast Open toward it: one relaxed load on the connect path.
  bool tcp_fast_open() const { return tcp_fast_open_.load(std::memory_order_relaxed); }
  // Admin side (the health checker's targets). Its own health check, which
  // overrides the service's (a YAML backend's health_check); nullopt: the
  // service's. It moves with the backend to a new address (BackendPatch).
  std::optional<HealthCheckConfig> health_check() const;
  // The version a connection to it sends: one relaxed load on the connect path.
  ProxyProtocol proxy_protocol_or(ProxyProtocol service) const {
    const uint8_t v = proxy_protocol_.load(std::memory_order_relaxed);
    return v == kServiceProxyProtocol ? service : static_cast<ProxyProtocol>(v);
  }
  AdminState admin_state() const { return admin_state_.load(std::memory_order_relaxed); }
  // Admin side (the registry, serialised). Leaving kDraining cancels a drain
  // whose finish was not announced yet.
  void set_admin_state(AdminState s);

  // Drain: the registry sets kDraining, the caller announces the start, then
  // arm_drain(). From then on exactly one party sees the drain finish: the
  // connection whose close leaves none open, or arm_drain() itself when none is
  // open. seq_cst on the state, the flag and the count makes "closer saw no
  // drain" and "arming saw connections" impossible at the same time.
  // Returns true when the backend was already idle: the caller announces it.
  bool arm_drain();
  // Counts arm_drain() calls: a drain deadline names the drain it belongs to,
  // so a deadline of a drain the operator ended (or restarted) does nothing.
  uint64_t drain_generation() const { return drain_generation_.load(std::memory_order_seq_cst); }

  // Slow start: when the backend last came up (health down -> up, enabled by
  // an operator, added at runtime); 0 = not since it was created, so the
  // backends a service starts with take their full share at once. Any thread;
  // the selectors read it with one relaxed load per candidate.
  void begin_slow_start(MonoTime now) {
    slow_start_began_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  }
  int64_t slow_start_began_ns() const { return slow_start_began_.load(std::memory_order_relaxed); }

  // Pen's blacklist. Any thread.
  void blacklist_until(MonoTime until);
  void clear_blacklist() { blacklisted_until_.store(0, std::memory_order_relaxed); }
  bool blacklisted(MonoTime now) const;
  MonoTime blacklisted_until() const;

  // Health. health_up() is one relaxed load, so the selectors can afford it on
  // every connect; the rest takes a mutex (checker and status views only).
  bool health_up() const { return !health_down_.load(std::memory_order_relaxed); }
  // Any thread. Returns true when the state changed (the caller announces it).
  bool set_health(bool up, const std::string& reason);
  // Any thread. Records a check's outcome (state unchanged).
  void record_check(bool ok, const std::string& result, double ms);
  // Any thread. Whether an active check runs; turning it off makes the backend
  // healthy again (no check means up as far as health goes). Returns true when
  // that changed the state.
  bool set_checked(bool checked);
  // Any thread (a worker's connect-failure path: rare, and it logs anyway).
  // Pen's passive check feeding the same state machine: a checked backend that
  // a client failed to reach goes down now, and only its active check's rise
  // brings it back. Unchecked backends keep Pen's blacklist alone. Returns true
  // when this changed the state (the caller announces it).
  bool passive_failure(const std::string& reason);
  HealthInfo health() const;
  BackendState state() const;

  // Pen's usability rules (its try_server()). A new client needs room under
  // the soft limit; a returning client under the larger of the soft and hard
  // limits (so "h:p:10" caps the server at 10 connections for everyone). With
  // no soft limit (0) there is no limit at all: a hard limit alone is ignored.
  bool usable_for_new(MonoTime now) const;
  bool usable_for_returning(MonoTime now) const;

  // Open connections. Any thread.
  int64_t active() const { return active_.load(std::memory_order_relaxed); }
  void connection_opened() { active_.fetch_add(1, std::memory_order_relaxed); }
  // True when this close ended a drain (rare): the caller announces it. The
  // common case costs one atomic decrement and a well-predicted branch.
  bool connection_closed() {
    if (active_.fetch_sub(1, std::memory_order_seq_cst) != 1) return false;
    return admin_state_.load(std::memory_order_seq_cst) == AdminState::kDraining &&
           drain_armed_.exchange(false, std::memory_order_seq_cst);
  }

  // Counters: `worker` only writes its own slot; readers sum.
  void add_connection(unsigned worker) { bump(slot(worker).connections, 1); }
  void add_failure(unsigned worker) { bump(slot(worker).connect_failures, 1); }
  void add_bytes(unsigned worker, uint64_t in, uint64_t out) {
    bump(slot(worker).bytes_in, in);
    bump(slot(worker).bytes_out, out);
  }
  void add_datagrams(unsigned worker, uint64_t in, uint64_t out) {
    bump(slot(worker).datagrams_in, in);
    bump(slot(worker).datagrams_out, out);
  }
  void record_connect_latency(unsigned worker, Duration d) { slot(worker).connect_latency.record(d); }
  BackendCounters counters() const;  // any thread

 private:
  struct Slot {
    std::atomic<uint64_t> connections{0};
    std::atomic<uint64_t> connect_failures{0};
    std::atomic<uint64_t> bytes_in{0};
    std::atomic<uint64_t> bytes_out{0};
    std::atomic<uint64_t> datagrams_in{0};
    std::atomic<uint64_t> datagrams_out{0};
    LatencyCells connect_latency;
  };
  Slot& slot(unsigned worker) { return slots_[worker]; }
  static uint8_t encode(std::optional<ProxyProtocol> version);

  const uint32_t id_;
  const Clock& clock_;
  const SocketAddress address_;
  const std::string host_;
  const std::string source_;
  std::atomic<uint32_t> soft_limit_;
  std::atomic<uint32_t> hard_limit_;
  std::atomic<uint32_t> weight_;
  std::atomic<uint32_t> prio_;
  static constexpr uint8_t kServiceProxyProtocol = 0xff;  // proxy_protocol_: none of its own
  std::atomic<uint8_t> proxy_protocol_;
  std::atomic<bool> tcp_fast_open_;
  std::atomic<AdminState> admin_state_{AdminState::kEnabled};
  std::atomic<int64_t> blacklisted_until_{0};  // steady-clock ns; 0 = not blacklisted
  std::atomic<int64_t> slow_start_began_{0};   // steady-clock ns; 0 = never
  std::atomic<int64_t> active_{0};
  std::atomic<bool> drain_armed_{false};  // a drain whose finish is not announced yet
  std::atomic<uint64_t> drain_generation_{0};
  std::atomic<bool> health_down_{false};
  mutable std::mutex health_mu_;  // guards health_ and health_check_ (never taken by workers)
  HealthInfo health_;
  std::optional<HealthCheckConfig> health_check_;
  PerWorker<Slot> slots_;
};

// A service's backends in configured order (Pen's server numbers), as a
// registry snapshot holds them.
using BackendList = std::vector<std::shared_ptr<Backend>>;

}  // namespace nib
