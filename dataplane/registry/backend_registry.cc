#include "dataplane/registry/backend_registry.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "dataplane/config/stored_text.h"

namespace nib {
namespace {

constexpr double kMaxSeconds = 1e9;  // the config loaders' bound: int64 ns stay far from overflow
constexpr auto kMaxTableSize = static_cast<uint64_t>(limits::kTableSize.max);

Status check_range(const char* field, uint32_t value, uint32_t max) {
  if (value <= max) return {};
  return Status::invalid(std::string(field) + " must be 0-" + std::to_string(max) + ", got " + std::to_string(value));
}

Status check_range(const char* field, const std::optional<uint32_t>& value, uint32_t max) {
  return value ? check_range(field, *value, max) : Status();
}

Status check_seconds(const char* field, double value) {
  if (std::isfinite(value) && value >= 0 && value <= kMaxSeconds) return {};
  return Status::invalid(std::string(field) + " must be seconds 0-1e9, got " + std::to_string(value));
}

bool known_mode(BalanceMode m) {
  switch (m) {
    case BalanceMode::kAffinity:
    case BalanceMode::kRoundRobin:
    case BalanceMode::kHash:
    case BalanceMode::kWeight:
    case BalanceMode::kPrio:
    case BalanceMode::kMaglev: return true;
  }
  return false;
}

bool uses_address(const RegistrySnapshot& snap, const SocketAddress& a) {
  for (const auto& b : snap.backends) {
    if (b->address() == a) return true;
  }
  return snap.emergency && snap.emergency->address() == a;
}

std::shared_ptr<const ClientPins> or_null(ClientPins pins) {
  if (pins.empty()) return nullptr;
  return std::make_shared<const ClientPins>(std::move(pins));
}

}  // namespace

int RegistrySnapshot::index_of(uint32_t id) const {
  auto it = index_by_id.find(id);
  return it == index_by_id.end() ? -1 : it->second;
}

Status BackendRegistry::check(const BackendConfig& c) {
  if (!c.address.valid() || c.address.port() == 0) {
    return Status::invalid("backend address must be an IP address with a port 1-65535");
  }
  for (Status st : {check_host("host", c.host), check_range("weight", c.weight, kMaxWeight),
                    check_range("prio", c.prio, kMaxPrio), check_range("soft_limit", c.soft_limit, kMaxConnectionLimit),
                    check_range("hard_limit", c.hard_limit, kMaxConnectionLimit)}) {
    if (!st.ok()) return st;
  }
  return {};
}

Status BackendRegistry::check(const BackendPatch& p) {
  for (Status st : {check_range("weight", p.weight, kMaxWeight), check_range("prio", p.prio, kMaxPrio),
                    check_range("soft_limit", p.soft_limit, kMaxConnectionLimit),
                    check_range("hard_limit", p.hard_limit, kMaxConnectionLimit)}) {
    if (!st.ok()) return st;
  }
  return {};
}

Status BackendRegistry::check(const PolicyConfig& p) {
  if (!known_mode(p.mode)) return Status::invalid("unknown balancing mode " + std::to_string(static_cast<int>(p.mode)));
  if (Status st = check_seconds("tracking_seconds", p.tracking_seconds); !st.ok()) return st;
  if (Status st = check_seconds("blacklist_seconds", p.blacklist_seconds); !st.ok()) return st;
  if (p.table_size < 1 || p.table_size > kMaxTableSize) {
    return Status::invalid("table_size must be 1-100000000, got " + std::to_string(p.table_size));
  }
  if (!limits::kConnectTimeout.contains(p.connect_timeout_seconds)) {
    return Status::invalid("connect_timeout_seconds must be " + describe(limits::kConnectTimeout) + ", got " +
                           std::to_string(p.connect_timeout_seconds));
  }
  if (!limits::kSeconds.contains(p.idle_timeout_seconds)) {
    return Status::invalid("idle_timeout_seconds must be " + describe(limits::kSeconds) + ", got " +
                           std::to_string(p.idle_timeout_seconds));
  }
  if (!limits::kMaxConnections.contains_unsigned(p.max_connections)) {
    return Status::invalid("max_connections must be " + describe(limits::kMaxConnections) + ", got " +
                           std::to_string(p.max_connections));
  }
  if (!limits::kPendingMax.contains_unsigned(p.pending_max)) {
    return Status::invalid("pending_max must be " + describe(limits::kPendingMax) + ", got " +
                           std::to_string(p.pending_max));
  }
  if (!limits::kIdlers.contains_unsigned(p.idlers)) {
    return Status::invalid("idlers must be " + describe(limits::kIdlers) + ", got " + std::to_string(p.idlers));
  }
  return {};
}

void BackendRegistry::set_policy_fields(RegistrySnapshot& snap, const PolicyConfig& policy) {
  snap.policy = policy;
  snap.connect_timeout = seconds_to_duration(policy.connect_timeout_seconds);
  snap.idle_timeout = seconds_to_duration(policy.idle_timeout_seconds);
  snap.max_connections = policy.max_connections;
}

std::shared_ptr<Backend> BackendRegistry::reuse_or_create(const BackendConfig& config, const RegistrySnapshot* old,
                                                          const BackendList& taken) {
  if (old != nullptr) {
    for (const auto& b : old->backends) {
      // A server listed twice (Pen's command line) is two backends: each
      // listing takes its own.
      if (b->address() == config.address && std::find(taken.begin(), taken.end(), b) == taken.end()) {
        b->apply(config);
        return b;
      }
    }
    if (old->emergency && old->emergency->address() == config.address) {
      old->emergency->apply(config);
      return old->emergency;
    }
  }
  return std::make_shared<Backend>(next_id_++, config, workers_, clock_);
}

RegistryDiff BackendRegistry::apply(const ServiceConfig& config) {
  std::lock_guard write(write_mu_);
  auto old = snapshot();
  auto next = std::make_shared<RegistrySnapshot>();
  RegistryDiff diff;
  const MonoTime now = clock_.now();
  for (const auto& bc : config.backends) {
    next->backends.push_back(reuse_or_create(bc, old.get(), next->backends));
    if (old->index_of(next->backends.back()->id()) < 0) {
      diff.added.push_back(next->backends.back());
      // Added by a reload: cold, like one added at runtime (not at startup).
      if (old->generation != 0) next->backends.back()->begin_slow_start(now);
    }
  }
  if (config.emergency) next->emergency = reuse_or_create(*config.emergency, old.get(), next->backends);
  if (config.abuse) {
    // Not through reuse_or_create(): never shared with a regular backend.
    // Kept across a reload at the same address (its counters with it).
    if (old->abuse && old->abuse->address() == config.abuse->address) {
      next->abuse = old->abuse;
      next->abuse->apply(*config.abuse);
    } else {
      next->abuse = std::make_shared<Backend>(next_id_++, *config.abuse, workers_, clock_);
    }
  }
  set_policy_fields(*next, config.policy);
  next->slow_start = seconds_to_duration(config.slow_start_seconds);
  next->drain_timeout = seconds_to_duration(config.drain_timeout_seconds);
  if (!config.client_acl.empty()) next->client_acl = std::make_shared<const AccessList>(config.client_acl);
  next->tls = config.tls_terminator;
  next->tls_handshake_timeout = seconds_to_duration(config.tls.handshake_timeout_seconds);
  next->tls_settings = config.tls.enabled() ? std::make_shared<const TlsConfig>(config.tls) : nullptr;
  next->backend_tls = config.tls_connector;
  index(*next);
  next->pins = old->pins;
  next->server_acls = old->server_acls;  // runtime settings of the servers that stay (publish() drops the rest)
  for (const auto& b : old->backends) {
    if (next->index_of(b->id()) >= 0) continue;
    diff.removed.push_back(b);
    if (!next->pins) continue;
    ClientPins pins = next->pins->without_backend(b->id());
    if (pins.size() == next->pins->size()) continue;
    diff.pins_dropped += next->pins->size() - pins.size();
    next->pins = or_null(std::move(pins));
  }
  diff.policy_changed = old->generation != 0 && !(old->policy == next->policy);
  publish(next);
  return diff;
}

Result<std::shared_ptr<Backend>> BackendRegistry::add(const BackendConfig& config) {
  if (Status st = check(config); !st.ok()) return st;
  std::lock_guard write(write_mu_);
  auto next = copy();
  if (uses_address(*next, config.address)) {
    return Status(StatusCode::kAlreadyExists, "backend " + config.address.to_string() + " already exists");
  }
  auto backend = std::make_shared<Backend>(next_id_++, config, workers_, clock_);
  backend->begin_slow_start(clock_.now());
  next->backends.push_back(backend);
  publish(next);
  return backend;
}

Result<BackendRegistry::Patched> BackendRegistry::update(uint32_t id, const BackendPatch& patch) {
  if (Status st = check(patch); !st.ok()) return st;
  std::lock_guard write(write_mu_);
  auto found = find(id);
  if (!found.ok()) return found.status();
  Patched out{*found, (*found)->config(), (*found)->admin_state(), nullptr};
  BackendConfig c = out.before;
  if (patch.weight) c.weight = *patch.weight;
  if (patch.prio) c.prio = *patch.prio;
  if (patch.soft_limit) c.soft_limit = *patch.soft_limit;
  if (patch.hard_limit) c.hard_limit = *patch.hard_limit;
  if (patch.proxy_protocol) c.proxy_protocol = *patch.proxy_protocol;
  if (patch.tcp_fast_open) c.tcp_fast_open = *patch.tcp_fast_open;
  std::shared_ptr<RegistrySnapshot> next = copy();
  if (patch.address && !(*patch.address == c.address)) {
    if (Status st = readdress(*next, out, c, patch); !st.ok()) return st;
  }
  out.backend->apply(c);
  if (patch.enabled) {
    AdminState s = *patch.enabled ? AdminState::kEnabled : AdminState::kDisabled;
    if (s != out.backend->admin_state()) out.backend->set_admin_state(s);
  }
  publish(next);
  return out;
}

Status BackendRegistry::readdress(RegistrySnapshot& next, Patched& out, BackendConfig& c, const BackendPatch& patch) {
  if (out.state_before == AdminState::kDraining && patch.enabled != true) {
    return Status::invalid("backend " + std::to_string(out.backend->id()) +
                           " is draining: its address changes once the drain ends or it is enabled again");
  }
  if (uses_address(next, *patch.address)) {
    return Status(StatusCode::kAlreadyExists, "backend " + patch.address->to_string() + " already exists");
  }
  c.address = *patch.address;
  c.host = patch.host;
  if (Status st = check(c); !st.ok()) return st;
  auto fresh = std::make_shared<Backend>(out.backend->id(), c, workers_, clock_);
  if (out.state_before != AdminState::kDraining) {
    fresh->set_admin_state(out.state_before);
  } else {
    out.backend->set_admin_state(AdminState::kEnabled);  // the request ends the drain: the old one's too
  }
  fresh->begin_slow_start(clock_.now());  // a new server behind an old number
  next.backends[static_cast<size_t>(next.index_of(out.backend->id()))] = fresh;
  out.replaced = std::exchange(out.backend, std::move(fresh));
  return {};
}

Result<BackendRegistry::Removed> BackendRegistry::remove(uint32_t id) {
  std::lock_guard write(write_mu_);
  auto found = find(id);
  if (!found.ok()) return found.status();
  auto next = copy();
  next->backends.erase(next->backends.begin() + next->index_of(id));
  Removed out{*found, 0};
  if (next->pins) {
    ClientPins pins = next->pins->without_backend(id);
    out.pins_dropped = next->pins->size() - pins.size();
    next->pins = or_null(std::move(pins));
  }
  publish(next);
  return out;
}

Result<AdminState> BackendRegistry::set_admin_state(uint32_t id, AdminState state) {
  if (state != AdminState::kEnabled && state != AdminState::kDraining && state != AdminState::kDisabled) {
    return Status::invalid("unknown admin state");
  }
  std::lock_guard write(write_mu_);
  auto found = find(id);
  if (!found.ok()) return found.status();
  AdminState before = (*found)->admin_state();
  if (before != state) (*found)->set_admin_state(state);
  publish(copy());
  return before;
}

Result<PolicyConfig> BackendRegistry::set_policy(const PolicyConfig& policy) {
  if (Status st = check(policy); !st.ok()) return st;
  std::lock_guard write(write_mu_);
  auto next = copy();
  PolicyConfig before = next->policy;
  set_policy_fields(*next, policy);
  publish(next);
  return before;
}

Status BackendRegistry::set_server_acl(uint32_t id, const AccessList& acl) {
  std::lock_guard write(write_mu_);
  if (auto found = find(id); !found.ok()) return found.status();
  auto next = copy();
  auto acls = next->server_acls ? *next->server_acls : std::unordered_map<uint32_t, AccessList>();
  if (acl.empty()) {
    acls.erase(id);
  } else {
    acls[id] = acl;
  }
  next->server_acls = acls.empty() ? nullptr : std::make_shared<const std::unordered_map<uint32_t, AccessList>>(acls);
  publish(next);
  return {};
}

void BackendRegistry::set_client_acl(const AccessList& acl) {
  std::lock_guard write(write_mu_);
  auto next = copy();
  next->client_acl = acl.empty() ? nullptr : std::make_shared<const AccessList>(acl);
  publish(next);
}

void BackendRegistry::set_tls(std::shared_ptr<const TlsTerminator> tls, std::shared_ptr<const TlsConfig> settings) {
  std::lock_guard write(write_mu_);
  auto next = copy();
  next->tls = std::move(tls);
  next->tls_settings = std::move(settings);
  publish(next);
}

void BackendRegistry::set_backend_tls(std::shared_ptr<const TlsConnector> connector) {
  std::lock_guard write(write_mu_);
  auto next = copy();
  next->backend_tls = std::move(connector);
  publish(next);
}

Result<uint32_t> BackendRegistry::pin(const IpPrefix& prefix, uint32_t id) {
  if (!prefix.valid()) return Status::invalid("invalid prefix " + prefix.to_string());
  std::lock_guard write(write_mu_);
  auto found = find(id);
  if (!found.ok()) return found.status();
  auto next = copy();
  const ClientPins empty;
  const ClientPins& pins = next->pins ? *next->pins : empty;
  uint32_t before = pins.exact(prefix).value_or(0);
  next->pins = or_null(pins.with(prefix, id));
  publish(next);
  return before;
}

Result<uint32_t> BackendRegistry::unpin(const IpPrefix& prefix) {
  std::lock_guard write(write_mu_);
  auto next = copy();
  auto before = next->pins ? next->pins->exact(prefix) : std::nullopt;
  if (!before) return Status::not_found("no pin for " + prefix.to_string());
  next->pins = or_null(next->pins->without(prefix));
  publish(next);
  return *before;
}

Result<std::shared_ptr<Backend>> BackendRegistry::find(uint32_t id) const {
  auto snap = snapshot();
  int idx = snap->index_of(id);
  if (idx >= 0) return snap->backends[idx];
  if (snap->emergency && snap->emergency->id() == id) {
    return Status::invalid("backend " + std::to_string(id) +
                           " is the emergency server; change it in the configuration");
  }
  return Status::not_found("no backend with id " + std::to_string(id));
}

std::shared_ptr<RegistrySnapshot> BackendRegistry::copy() const {
  return std::make_shared<RegistrySnapshot>(*snapshot());
}

void BackendRegistry::index(RegistrySnapshot& snap) {
  snap.index_by_id.clear();
  for (size_t i = 0; i < snap.backends.size(); ++i) {
    snap.index_by_id[snap.backends[i]->id()] = static_cast<int>(i);
  }
}

void BackendRegistry::set_maglev(RegistrySnapshot& snap, const std::shared_ptr<const MaglevTable>& previous) {
  snap.maglev = nullptr;
  if (initial_choice(snap.policy) != BalanceMode::kMaglev) return;
  std::vector<MaglevMember> members;
  members.reserve(snap.backends.size());
  for (size_t i = 0; i < snap.backends.size(); ++i) {
    const Backend& b = *snap.backends[i];
    // Operator state only: disabled backends and weight 0 own no slots.
    if (b.admin_state() == AdminState::kDisabled || b.weight() == 0) continue;
    members.push_back({b.address(), b.weight(), static_cast<int>(i)});
  }
  if (previous && previous->built_from(members)) {
    snap.maglev = previous;
    return;
  }
  auto table = MaglevTable::build(members);
  if (table.ok()) snap.maglev = *table;
}

void BackendRegistry::publish(std::shared_ptr<RegistrySnapshot> next) {
  index(*next);
  set_maglev(*next, snapshot()->maglev);
  next->countries = countries_;
  // A server that left takes its ACL with it.
  if (next->server_acls) {
    auto acls = *next->server_acls;
    std::erase_if(acls, [&](const auto& entry) { return next->index_of(entry.first) < 0; });
    if (acls.size() != next->server_acls->size()) {
      next->server_acls = acls.empty() ? nullptr : std::make_shared<const std::unordered_map<uint32_t, AccessList>>(acls);
    }
  }
  next->generation = generation_.load(std::memory_order_relaxed) + 1;
  {
    std::lock_guard lock(mutex_);
    current_ = next;
  }
  generation_.store(next->generation, std::memory_order_release);
}

std::shared_ptr<const RegistrySnapshot> BackendRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace nib
