#include "dataplane/registry/backend.h"

#include <algorithm>

namespace nib {
namespace {
int64_t to_ns(MonoTime t) { return t.time_since_epoch().count(); }
}  // namespace

const char* to_string(AdminState state) {
  switch (state) {
    case AdminState::kEnabled: return "enabled";
    case AdminState::kDraining: return "draining";
    case AdminState::kDisabled: return "disabled";
  }
  return "?";
}

const char* to_string(BackendState state) {
  switch (state) {
    case BackendState::kUp: return "up";
    case BackendState::kDown: return "down";
    case BackendState::kDraining: return "draining";
    case BackendState::kDisabled: return "disabled";
  }
  return "?";
}

Backend::Backend(uint32_t id, const BackendConfig& config, unsigned workers, const Clock& clock)
    : id_(id),
      clock_(clock),
      address_(config.address),
      host_(config.host.empty() ? config.address.ip_string() : config.host),
      source_(config.source),
      soft_limit_(config.soft_limit),
      hard_limit_(config.hard_limit),
      weight_(config.weight),
      prio_(config.prio),
      proxy_protocol_(encode(config.proxy_protocol)),
      tcp_fast_open_(config.tcp_fast_open),
      health_check_(config.health_check),
      slots_(workers) {}

void Backend::apply(const BackendConfig& c) {
  soft_limit_.store(c.soft_limit, std::memory_order_relaxed);
  hard_limit_.store(c.hard_limit, std::memory_order_relaxed);
  weight_.store(c.weight, std::memory_order_relaxed);
  prio_.store(c.prio, std::memory_order_relaxed);
  proxy_protocol_.store(encode(c.proxy_protocol), std::memory_order_relaxed);
  tcp_fast_open_.store(c.tcp_fast_open, std::memory_order_relaxed);
  std::lock_guard lock(health_mu_);
  health_check_ = c.health_check;
}

std::optional<HealthCheckConfig> Backend::health_check() const {
  std::lock_guard lock(health_mu_);
  return health_check_;
}

std::optional<ProxyProtocol> Backend::proxy_protocol() const {
  const uint8_t v = proxy_protocol_.load(std::memory_order_relaxed);
  if (v == kServiceProxyProtocol) return std::nullopt;
  return static_cast<ProxyProtocol>(v);
}

uint8_t Backend::encode(std::optional<ProxyProtocol> version) {
  return version ? static_cast<uint8_t>(*version) : kServiceProxyProtocol;
}

BackendConfig Backend::config() const {
  BackendConfig c;
  c.host = host_;
  c.address = address_;
  c.source = source_;
  c.soft_limit = soft_limit();
  c.hard_limit = hard_limit();
  c.weight = weight();
  c.prio = prio();
  c.proxy_protocol = proxy_protocol();
  c.tcp_fast_open = tcp_fast_open();
  c.health_check = health_check();
  return c;
}

void Backend::set_admin_state(AdminState s) {
  if (s != AdminState::kDraining) drain_armed_.store(false, std::memory_order_seq_cst);
  // Back in rotation after a drain or a disable: it may be cold.
  if (s == AdminState::kEnabled && admin_state() != AdminState::kEnabled) begin_slow_start(clock_.now());
  admin_state_.store(s, std::memory_order_seq_cst);
}

bool Backend::arm_drain() {
  drain_generation_.fetch_add(1, std::memory_order_seq_cst);
  drain_armed_.store(true, std::memory_order_seq_cst);
  return active_.load(std::memory_order_seq_cst) == 0 && drain_armed_.exchange(false, std::memory_order_seq_cst);
}

void Backend::blacklist_until(MonoTime until) {
  blacklisted_until_.store(to_ns(until), std::memory_order_relaxed);
}

bool Backend::blacklisted(MonoTime now) const {
  int64_t until = blacklisted_until_.load(std::memory_order_relaxed);
  return until != 0 && to_ns(now) < until;
}

MonoTime Backend::blacklisted_until() const {
  return MonoTime(Duration(blacklisted_until_.load(std::memory_order_relaxed)));
}

bool Backend::set_health(bool up, const std::string& reason) {
  std::lock_guard lock(health_mu_);
  if (health_.up == up) return false;
  health_.up = up;
  ++health_.transitions;
  health_.reason = reason;
  health_.changed = std::chrono::system_clock::now();
  health_down_.store(!up, std::memory_order_relaxed);
  if (up) begin_slow_start(clock_.now());
  return true;
}

void Backend::record_check(bool ok, const std::string& result, double ms) {
  std::lock_guard lock(health_mu_);
  health_.last_check_ok = ok;
  health_.last_check = result;
  health_.last_check_ms = ms;
  health_.last_check_time = std::chrono::system_clock::now();
  ++health_.checks;
}

bool Backend::set_checked(bool checked) {
  std::lock_guard lock(health_mu_);
  health_.checked = checked;
  if (checked || health_.up) return false;
  health_.up = true;
  ++health_.transitions;
  health_.reason = "health check removed";
  health_.changed = std::chrono::system_clock::now();
  health_down_.store(false, std::memory_order_relaxed);
  begin_slow_start(clock_.now());
  return true;
}

bool Backend::passive_failure(const std::string& reason) {
  std::lock_guard lock(health_mu_);
  if (!health_.checked || !health_.up) return false;
  health_.up = false;
  ++health_.transitions;
  health_.reason = reason;
  health_.changed = std::chrono::system_clock::now();
  health_down_.store(true, std::memory_order_relaxed);
  return true;
}

HealthInfo Backend::health() const {
  std::lock_guard lock(health_mu_);
  return health_;
}

BackendState Backend::state() const {
  switch (admin_state()) {
    case AdminState::kDraining: return BackendState::kDraining;
    case AdminState::kDisabled: return BackendState::kDisabled;
    case AdminState::kEnabled: break;
  }
  return health_up() ? BackendState::kUp : BackendState::kDown;
}

bool Backend::usable_for_new(MonoTime now) const {
  if (admin_state() != AdminState::kEnabled || !health_up() || blacklisted(now)) return false;
  uint32_t soft = soft_limit();
  return soft == 0 || active() < soft;
}

bool Backend::usable_for_returning(MonoTime now) const {
  if (admin_state() != AdminState::kEnabled || !health_up() || blacklisted(now)) return false;
  // Pen's try_server(): no soft limit, no limit at all (hard alone means
  // nothing); otherwise a returning client may go up to the larger of the two.
  uint32_t soft = soft_limit();
  return soft == 0 || active() < std::max(soft, hard_limit());
}

BackendCounters Backend::counters() const {
  BackendCounters sum;
  for (unsigned i = 0; i < slots_.size(); ++i) {
    sum.connections += slots_[i].connections.load(std::memory_order_relaxed);
    sum.connect_failures += slots_[i].connect_failures.load(std::memory_order_relaxed);
    sum.bytes_in += slots_[i].bytes_in.load(std::memory_order_relaxed);
    sum.bytes_out += slots_[i].bytes_out.load(std::memory_order_relaxed);
    sum.datagrams_in += slots_[i].datagrams_in.load(std::memory_order_relaxed);
    sum.datagrams_out += slots_[i].datagrams_out.load(std::memory_order_relaxed);
    slots_[i].connect_latency.add_to(sum.connect_latency);
  }
  return sum;
}

}  // namespace nib
