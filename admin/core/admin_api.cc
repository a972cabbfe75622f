#include "admin/core/admin_api.h"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "admin/state/state_writer.h"
#include "dataplane/config/stored_text.h"
#include "dataplane/net/tls_session.h"
#include "dataplane/registry/backend_registry.h"

namespace nib::admin {
namespace {

// Every numeric request field the core checks, by its proto name. The ranges
// are limits.h's; REST reads its rules here too, so a value is refused in the
// same words whichever way it came.
constexpr FieldRule kRules[] = {
    {"port", limits::kPort, {}},
    {"weight", limits::kWeight, {}},
    {"prio", limits::kPrio, {}},
    {"soft_limit", limits::kConnectionLimit, {}},
    {"hard_limit", limits::kConnectionLimit, {}},
    {"id", limits::kBackendId, {}},
    {"backend_id", limits::kBackendId, {}},
    {"from_backend_id", limits::kBackendId, {}},
    {"to_backend_id", limits::kBackendId, {}},
    {"page_size", limits::kPageSize, {}},
    {"table_size", limits::kTableSize, {}},
    {"timeout_seconds", {}, limits::kSeconds},
    {"tracking_seconds", {}, limits::kSeconds},
    {"blacklist_seconds", {}, limits::kSeconds},
    {"connect_timeout_seconds", {}, limits::kConnectTimeout},
    {"idle_timeout_seconds", {}, limits::kSeconds},
    {"max_connections", limits::kMaxConnections, {}},
    {"pending_max", limits::kPendingMax, {}},
    {"idlers", limits::kIdlers, {}},
};

std::string quoted_field(std::string_view field) { return "field \"" + std::string(field) + "\""; }

std::string number_text(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

Status check_int(std::string_view field, uint64_t value) {
  const FieldRule* rule = field_rule(field);
  if (rule == nullptr || !rule->integer || rule->integer->contains_unsigned(value)) return {};
  return field_error(field, describe(*rule->integer), std::to_string(value));
}

Status check_seconds(std::string_view field, double value) {
  const FieldRule* rule = field_rule(field);
  if (rule == nullptr || !rule->seconds || rule->seconds->contains(value)) return {};
  return field_error(field, describe(*rule->seconds), number_text(value));
}

// The first error of several checks.
Status first_error(std::initializer_list<Status> checks) {
  for (const Status& s : checks) {
    if (!s.ok()) return s;
  }
  return {};
}

// The DNS policy (admin_api.h): an IP literal or a name, resolved now.
// "[::1]" as "::1": a literal IPv6 address may come in brackets.
std::string_view bare_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

Result<BackendConfig> backend_config(const v1::AddBackendRequest& r) {
  std::string_view host = bare_host(r.address());
  if (host.empty()) return Status::invalid("missing required field \"address\"");
  BackendConfig c;
  c.weight = r.has_weight() ? r.weight() : c.weight;
  c.prio = r.prio();
  c.soft_limit = r.soft_limit();
  c.hard_limit = r.hard_limit();
  // Unset on an add: the service's.
  auto proxy = r.proxy_protocol() == v1::PROXY_PROTOCOL_UNSPECIFIED ? std::optional<ProxyProtocol>()
                                                                     : proxy_protocol_from_proto(r.proxy_protocol());
  if (Status st = first_error({check_host(quoted_field("address"), host), check_int("port", r.port()),
                               check_int("weight", c.weight), check_int("prio", c.prio),
                               check_int("soft_limit", c.soft_limit), check_int("hard_limit", c.hard_limit),
                               proxy.status()});
      !st.ok()) {
    return st;  // before any lookup
  }
  c.proxy_protocol = *proxy;
  c.tcp_fast_open = r.tcp_fast_open();
  auto resolved = SocketAddress::resolve(host, static_cast<uint16_t>(r.port()));
  if (!resolved.ok()) return Status::invalid(quoted_field("address") + ": " + resolved.status().message());
  c.host = std::string(host);
  c.address = *resolved;
  return c;
}

// The fields, checked; a new address is resolved by new_address().
Result<BackendPatch> backend_patch(const v1::UpdateBackendRequest& r) {
  if (!r.has_weight() && !r.has_prio() && !r.has_soft_limit() && !r.has_hard_limit() && !r.has_enabled() &&
      !r.has_address() && !r.has_port() && !r.has_proxy_protocol() && !r.has_tcp_fast_open()) {
    return Status::invalid(
        "nothing to update: set at least one of weight, prio, soft_limit, hard_limit, enabled, address, port, "
        "proxy_protocol, tcp_fast_open");
  }
  BackendPatch p;
  if (r.has_weight()) p.weight = r.weight();
  if (r.has_prio()) p.prio = r.prio();
  if (r.has_soft_limit()) p.soft_limit = r.soft_limit();
  if (r.has_hard_limit()) p.hard_limit = r.hard_limit();
  if (r.has_enabled()) p.enabled = r.enabled();
  if (r.has_tcp_fast_open()) p.tcp_fast_open = r.tcp_fast_open();
  if (r.has_proxy_protocol()) {
    auto proxy = proxy_protocol_from_proto(r.proxy_protocol());
    if (!proxy.ok()) return proxy.status();
    p.proxy_protocol = *proxy;
  }
  if (r.has_address()) {
    if (bare_host(r.address()).empty()) return Status::invalid(quoted_field("address") + ": expected a host name or IP address");
    if (Status st = check_host(quoted_field("address"), bare_host(r.address())); !st.ok()) return st;
  }
  if (r.has_port()) {
    if (Status st = check_int("port", r.port()); !st.ok()) return st;
  }
  if (Status st = first_error({check_int("id", r.id()), check_int("weight", p.weight.value_or(0)),
                               check_int("prio", p.prio.value_or(0)), check_int("soft_limit", p.soft_limit.value_or(0)),
                               check_int("hard_limit", p.hard_limit.value_or(0))});
      !st.ok()) {
    return st;
  }
  return p;
}

// The request's fields, checked; applied later, under the service's lock.
struct PolicyPatch {
  std::optional<BalanceMode> mode;
  std::optional<bool> stubborn, consistent;
  std::optional<double> tracking_seconds, blacklist_seconds;
  std::optional<uint64_t> table_size;
  std::optional<double> connect_timeout_seconds, idle_timeout_seconds;
  std::optional<uint32_t> max_connections, pending_max, idlers;

  void apply(PolicyConfig& p) const {
    if (mode) p.mode = *mode;
    if (stubborn) p.stubborn = *stubborn;
    if (consistent) p.consistent = *consistent;
    if (tracking_seconds) p.tracking_seconds = *tracking_seconds;
    if (blacklist_seconds) p.blacklist_seconds = *blacklist_seconds;
    if (table_size) p.table_size = *table_size;
    if (connect_timeout_seconds) p.connect_timeout_seconds = *connect_timeout_seconds;
    if (idle_timeout_seconds) p.idle_timeout_seconds = *idle_timeout_seconds;
    if (max_connections) p.max_connections = *max_connections;
    if (pending_max) p.pending_max = *pending_max;
    if (idlers) p.idlers = *idlers;
  }
};

Result<PolicyPatch> policy_patch(const v1::SetPolicyRequest& r) {
  PolicyPatch p;
  if (r.has_mode()) {
    auto mode = balance_mode_from_proto(r.mode());
    if (!mode.ok()) return mode.status();
    p.mode = *mode;
  }
  if (r.has_stubborn()) p.stubborn = r.stubborn();
  if (r.has_consistent()) p.consistent = r.consistent();
  if (r.has_tracking_seconds()) p.tracking_seconds = r.tracking_seconds();
  if (r.has_blacklist_seconds()) p.blacklist_seconds = r.blacklist_seconds();
  if (r.has_table_size()) p.table_size = r.table_size();
  if (r.has_connect_timeout_seconds()) p.connect_timeout_seconds = r.connect_timeout_seconds();
  if (r.has_idle_timeout_seconds()) p.idle_timeout_seconds = r.idle_timeout_seconds();
  if (r.has_max_connections()) p.max_connections = r.max_connections();
  if (r.has_pending_max()) p.pending_max = r.pending_max();
  if (r.has_idlers()) p.idlers = r.idlers();
  if (Status st = first_error({check_seconds("tracking_seconds", p.tracking_seconds.value_or(0)),
                               check_seconds("blacklist_seconds", p.blacklist_seconds.value_or(0)),
                               check_int("table_size", p.table_size.value_or(1)),
                               check_seconds("connect_timeout_seconds", p.connect_timeout_seconds.value_or(1)),
                               check_seconds("idle_timeout_seconds", p.idle_timeout_seconds.value_or(0)),
                               check_int("max_connections", p.max_connections.value_or(0)),
                               check_int("pending_max", p.pending_max.value_or(0)),
                               check_int("idlers", p.idlers.value_or(0))});
      !st.ok()) {
    return st;
  }
  return p;
}

Result<IpPrefix> client_prefix(const std::string& text) {
  auto prefix = IpPrefix::parse(text);
  if (!prefix.ok()) {
    return Status::invalid(quoted_field("prefix") +
                           ": expected a client IP address or CIDR prefix such as 10.1.0.0/16, got '" + text + "'");
  }
  return prefix;
}

// Page tokens are offsets into the table, as decimal text; opaque to clients.
Result<uint64_t> page_offset(const std::string& token) {
  if (token.empty()) return uint64_t{0};
  uint64_t offset = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), offset);
  if (ec != std::errc() || end != token.data() + token.size()) {
    return Status::invalid(quoted_field("page_token") + ": not a token from next_page_token");
  }
  return offset;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// ---- Edits of a service's shared state (SharedRegistry::Edit's helpers).

SavedBackend saved_backend(const BackendConfig& c) {
  return SavedBackend{.host = c.host,
                      .address = c.address,
                      .weight = c.weight,
                      .prio = c.prio,
                      .soft_limit = c.soft_limit,
                      .hard_limit = c.hard_limit,
                      .proxy_protocol = c.proxy_protocol,
                      .tcp_fast_open = c.tcp_fast_open,
                      .admin_state = AdminState::kEnabled};
}

std::vector<SavedBackend>::iterator find_backend(SavedService& s, const SocketAddress& address) {
  return std::find_if(s.backends.begin(), s.backends.end(), [&](const SavedBackend& b) { return b.address == address; });
}

Status removed_meanwhile(const SocketAddress& address) {
  return Status(StatusCode::kNotFound, "backend " + address.to_string() + " was removed (by another replica)");
}

// The dataplane's update_backend, on the shared record: the same rules.
Status patch_backend(SavedService& s, const SocketAddress& address, const BackendPatch& p) {
  auto it = find_backend(s, address);
  if (it == s.backends.end()) return removed_meanwhile(address);
  if (p.address && *p.address != address) {
    if (find_backend(s, *p.address) != s.backends.end()) {
      return Status(StatusCode::kAlreadyExists, "backend " + p.address->to_string() + " already exists");
    }
    if (it->admin_state == AdminState::kDraining && p.enabled != true) {
      return Status(StatusCode::kFailedPrecondition, "backend " + address.to_string() +
                                                         " is draining: its address changes once the drain ends "
                                                         "or it is enabled again");
    }
    for (auto& pin : s.pins) {
      if (pin.backend == address) pin.backend = *p.address;
    }
    it->address = *p.address;
    it->host = p.host;
  }
  if (p.weight) it->weight = *p.weight;
  if (p.prio) it->prio = *p.prio;
  if (p.soft_limit) it->soft_limit = *p.soft_limit;
  if (p.hard_limit) it->hard_limit = *p.hard_limit;
  if (p.proxy_protocol) it->proxy_protocol = *p.proxy_protocol;
  if (p.tcp_fast_open) it->tcp_fast_open = *p.tcp_fast_open;
  if (p.enabled) it->admin_state = *p.enabled ? AdminState::kEnabled : AdminState::kDisabled;
  return {};
}

}  // namespace

const FieldRule* field_rule(std::string_view field) {
  for (const FieldRule& r : kRules) {
    if (r.field == field) return &r;
  }
  return nullptr;
}

Status field_error(std::string_view field, std::string_view expected, std::string_view got) {
  return Status::invalid(quoted_field(field) + ": expected " + std::string(expected) + ", got " + std::string(got));
}

v1::BalanceMode to_proto(BalanceMode mode) {
  switch (mode) {
    case BalanceMode::kAffinity: return v1::BALANCE_MODE_AFFINITY;
    case BalanceMode::kRoundRobin: return v1::BALANCE_MODE_ROUND_ROBIN;
    case BalanceMode::kHash: return v1::BALANCE_MODE_HASH;
    case BalanceMode::kWeight: return v1::BALANCE_MODE_WEIGHT;
    case BalanceMode::kPrio: return v1::BALANCE_MODE_PRIO;
    case BalanceMode::kMaglev: return v1::BALANCE_MODE_MAGLEV;
  }
  return v1::BALANCE_MODE_UNSPECIFIED;
}

Result<BalanceMode> balance_mode_from_proto(int mode) {
  switch (mode) {
    case v1::BALANCE_MODE_AFFINITY: return BalanceMode::kAffinity;
    case v1::BALANCE_MODE_ROUND_ROBIN: return BalanceMode::kRoundRobin;
    case v1::BALANCE_MODE_HASH: return BalanceMode::kHash;
    case v1::BALANCE_MODE_WEIGHT: return BalanceMode::kWeight;
    case v1::BALANCE_MODE_PRIO: return BalanceMode::kPrio;
    case v1::BALANCE_MODE_MAGLEV: return BalanceMode::kMaglev;
  }
  return field_error("mode", "one of affinity, roundrobin, hash, weight, prio, maglev", std::to_string(mode));
}

v1::ProxyProtocol to_proto(std::optional<ProxyProtocol> version) {
  if (!version) return v1::PROXY_PROTOCOL_SERVICE;
  switch (*version) {
    case ProxyProtocol::kOff: return v1::PROXY_PROTOCOL_OFF;
    case ProxyProtocol::kV1: return v1::PROXY_PROTOCOL_V1;
    case ProxyProtocol::kV2: return v1::PROXY_PROTOCOL_V2;
  }
  return v1::PROXY_PROTOCOL_SERVICE;
}

Result<std::optional<ProxyProtocol>> proxy_protocol_from_proto(int version) {
  switch (version) {
    case v1::PROXY_PROTOCOL_SERVICE: return std::optional<ProxyProtocol>();
    case v1::PROXY_PROTOCOL_OFF: return std::optional(ProxyProtocol::kOff);
    case v1::PROXY_PROTOCOL_V1: return std::optional(ProxyProtocol::kV1);
    case v1::PROXY_PROTOCOL_V2: return std::optional(ProxyProtocol::kV2);
  }
  return field_error("proxy_protocol", "one of service, off, v1, v2", std::to_string(version));
}

AdminApi::AdminApi(Dataplane& dataplane, StateWriter* state) : dataplane_(dataplane), state_(state) {}

Status AdminApi::commit() {
  StateWriter* w = state_.load();
  return w ? w->commit() : Status();
}

Status AdminApi::state_health() const {
  StateWriter* w = state_.load();
  return w ? w->health() : Status();
}

Status AdminApi::registry_health() const {
  SharedRegistry* shared = registry_.load();
  return shared ? shared->health() : Status();
}

std::optional<RegistryStatus> AdminApi::registry_status() const {
  SharedRegistry* shared = registry_.load();
  if (!shared) return std::nullopt;
  return shared->status();
}

RegistryStatus AdminApi::get_registry(const v1::GetRegistryRequest&) const {
  if (auto shared = registry_status()) return *shared;
  RegistryStatus local;
  local.store = state_.load() ? "state_file" : "none";
  local.connected = true;
  return local;
}

// ---- The shared registry names backends by address (ids are each replica's).

Result<SocketAddress> AdminApi::address_of(const std::string& service, uint32_t id) const {
  auto status = dataplane_.service(service);
  if (!status.ok()) return status.status();
  for (const auto& b : status->backends) {
    if (b.id != id) continue;
    if (!b.source.empty()) {
      return Status(StatusCode::kFailedPrecondition,
                    "backend " + std::to_string(id) + " comes from " + b.source + " discovery: change its records");
    }
    return b.address;
  }
  return Status(StatusCode::kNotFound, "no backend " + std::to_string(id) + " in service '" + service + "'");
}

Result<BackendStatus> AdminApi::backend_at(const std::string& service, const SocketAddress& address) const {
  auto status = dataplane_.service(service);
  if (!status.ok()) return status.status();
  for (const auto& b : status->backends) {
    if (b.address == address) return dataplane_.backend(service, b.id);
  }
  // Applied, then changed again by another replica before this answer.
  return Status(StatusCode::kNotFound, "backend " + address.to_string() + " is gone again (another replica's change)");
}

Result<std::string> AdminApi::resolve_service(const std::string& requested) const {
  std::vector<std::string> names = dataplane_.service_names();
  if (requested.empty()) {
    if (names.size() == 1) return names[0];
    return Status::invalid("the request names no service, but nib runs " + std::to_string(names.size()) +
                           " (" + join_names(names) + "); name one");
  }
  if (std::find(names.begin(), names.end(), requested) == names.end()) {
    return Status::not_found("no service '" + requested + "'; services: " + join_names(names));
  }
  return requested;
}

// ---- Reads

std::vector<ServiceStatus> AdminApi::list_services(const v1::ListServicesRequest&) const {
  return dataplane_.status();
}

Result<ServiceStatus> AdminApi::get_stats(const v1::GetStatsRequest& r) const {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  return dataplane_.service(*service);
}

Result<ServiceStatus> AdminApi::list_backends(const v1::ListBackendsRequest& r) const {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  return dataplane_.service_with_clients(*service);  // remembered clients counted in one pass
}

Result<BackendStatus> AdminApi::get_backend(const v1::GetBackendRequest& r) const {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  if (Status st = check_int("id", r.id()); !st.ok()) return st;
  return dataplane_.backend(*service, r.id());
}

Result<ClientPage> AdminApi::list_clients(const v1::ListClientsRequest& r) const {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  ClientPage page;
  page.service = *service;
  page.limit = r.page_size() == 0 ? limits::kDefaultPageSize : r.page_size();
  if (Status st = check_int("page_size", page.limit); !st.ok()) return st;
  auto offset = page_offset(r.page_token());
  if (!offset.ok()) return offset.status();
  page.offset = *offset;
  if (r.has_backend_id()) {
    if (Status st = check_int("backend_id", r.backend_id()); !st.ok()) return st;
    page.backend_id = r.backend_id();
  }
  // One more than a page tells whether another page follows.
  auto clients = dataplane_.list_clients(*service, page.offset, uint64_t{page.limit} + 1, page.backend_id);
  if (!clients.ok()) return clients.status();
  page.now = MonoClock::now();
  page.clients = std::move(*clients);
  if (page.clients.size() > page.limit) {
    page.clients.resize(page.limit);
    page.next_offset = page.offset + page.limit;
  }
  auto pins = dataplane_.pins(*service);
  if (pins.ok()) page.pins = std::move(*pins);
  return page;
}

Result<std::vector<ClientPin>> AdminApi::list_pins(const v1::ListPinsRequest& r) const {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  return dataplane_.pins(*service);
}

Result<PolicyConfig> AdminApi::get_policy(const v1::GetPolicyRequest& r) const {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  return dataplane_.policy(*service);
}

// ---- Changes

Result<BackendStatus> AdminApi::add_backend(const v1::AddBackendRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  auto config = backend_config(r);
  if (!config.ok()) return config.status();
  if (SharedRegistry* shared = registry_.load()) {
    const SavedBackend added = saved_backend(*config);
    Status st = shared->change(*service, [&](SavedService& s) {
      if (find_backend(s, added.address) != s.backends.end()) {
        return Status(StatusCode::kAlreadyExists, "backend " + added.address.to_string() + " already exists");
      }
      s.backends.push_back(added);
      return Status();
    });
    if (!st.ok()) return st;
    return backend_at(*service, added.address);
  }
  auto added = dataplane_.add_backend(*service, *config);
  if (!added.ok()) return added.status();
  if (Status st = commit(); !st.ok()) return st;
  return added;
}

Result<BackendStatus> AdminApi::update_backend(const v1::UpdateBackendRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  auto patch = backend_patch(r);
  if (!patch.ok()) return patch.status();
  if (r.has_address() || r.has_port()) {
    if (Status st = new_address(*service, r, *patch); !st.ok()) return st;
  }
  if (SharedRegistry* shared = registry_.load()) {
    auto address = address_of(*service, r.id());
    if (!address.ok()) return address.status();
    Status st = shared->change(*service, [&](SavedService& s) { return patch_backend(s, *address, *patch); });
    if (!st.ok()) return st;
    return backend_at(*service, patch->address.value_or(*address));
  }
  auto updated = dataplane_.update_backend(*service, r.id(), *patch);
  if (!updated.ok()) return updated.status();
  if (Status st = commit(); !st.ok()) return st;
  return dataplane_.backend(*service, r.id());
}

// The half of the address the request leaves out is the backend's own: a
// port alone keeps its IP address (no new lookup), an address alone its port.
Status AdminApi::new_address(const std::string& service, const v1::UpdateBackendRequest& r, BackendPatch& patch) {
  auto current = dataplane_.backend(service, r.id());
  if (!current.ok()) return current.status();
  const auto port = static_cast<uint16_t>(r.has_port() ? r.port() : current->address.port());
  if (!r.has_address()) {
    patch.address = current->address;
    patch.address->set_port(port);
    patch.host = current->host;
    return {};
  }
  const std::string_view host = bare_host(r.address());
  auto resolved = SocketAddress::resolve(host, port);
  if (!resolved.ok()) return Status::invalid(quoted_field("address") + ": " + resolved.status().message());
  patch.address = *resolved;
  patch.host = std::string(host);
  return {};
}

Status AdminApi::remove_backend(const v1::RemoveBackendRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  if (Status st = check_int("id", r.id()); !st.ok()) return st;
  if (SharedRegistry* shared = registry_.load()) {
    auto address = address_of(*service, r.id());
    if (!address.ok()) return address.status();
    return shared->change(*service, [&](SavedService& s) {
      auto it = find_backend(s, *address);
      if (it == s.backends.end()) return removed_meanwhile(*address);
      s.backends.erase(it);
      // Its pins go with it, as in the dataplane.
      std::erase_if(s.pins, [&](const SavedPin& p) { return p.backend == *address; });
      return Status();
    });
  }
  if (Status st = dataplane_.remove_backend(*service, r.id()); !st.ok()) return st;
  return commit();
}

Result<BackendStatus> AdminApi::drain_backend(const v1::DrainBackendRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  std::optional<double> timeout;
  if (r.has_timeout_seconds()) timeout = r.timeout_seconds();
  if (Status st = first_error({check_int("id", r.id()), check_seconds("timeout_seconds", timeout.value_or(0))});
      !st.ok()) {
    return st;
  }
  if (SharedRegistry* shared = registry_.load()) {
    auto address = address_of(*service, r.id());
    if (!address.ok()) return address.status();
    Status st = shared->change(*service, [&](SavedService& s) {
      auto it = find_backend(s, *address);
      if (it == s.backends.end()) return removed_meanwhile(*address);
      it->admin_state = AdminState::kDraining;
      return Status();
    });
    if (!st.ok()) return st;
    // The deadline is this replica's (the others use their drain_timeout).
    if (timeout) {
      if (auto b = backend_at(*service, *address); b.ok()) (void)dataplane_.drain_backend(*service, b->id, timeout);
    }
    return backend_at(*service, *address);
  }
  auto drained = dataplane_.drain_backend(*service, r.id(), timeout);
  if (!drained.ok()) return drained.status();
  if (Status st = commit(); !st.ok()) return st;
  return dataplane_.backend(*service, r.id());
}

Status AdminApi::forget_client(const v1::ForgetClientRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  auto ip = IpKey::parse(r.address());
  if (!ip.ok()) {
    return Status::invalid(quoted_field("address") + ": expected a client IP address, got '" + r.address() + "'");
  }
  if (Status st = dataplane_.forget_client(*service, *ip); !st.ok()) return st;
  return commit();
}

Result<ClientPin> AdminApi::pin_client(const v1::PinClientRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  auto prefix = client_prefix(r.prefix());
  if (!prefix.ok()) return prefix.status();
  if (Status st = check_int("backend_id", r.backend_id()); !st.ok()) return st;
  if (SharedRegistry* shared = registry_.load()) {
    auto address = address_of(*service, r.backend_id());
    if (!address.ok()) return address.status();
    Status st = shared->change(*service, [&](SavedService& s) {
      if (find_backend(s, *address) == s.backends.end()) return removed_meanwhile(*address);
      std::erase_if(s.pins, [&](const SavedPin& p) { return p.prefix == *prefix; });
      s.pins.push_back(SavedPin{*prefix, *address});
      return Status();
    });
    if (!st.ok()) return st;
    auto b = backend_at(*service, *address);
    if (!b.ok()) return b.status();
    return ClientPin{*prefix, b->id};
  }
  if (Status st = dataplane_.pin_clients(*service, *prefix, r.backend_id()); !st.ok()) return st;
  if (Status st = commit(); !st.ok()) return st;
  return ClientPin{*prefix, r.backend_id()};
}

Status AdminApi::unpin_client(const v1::UnpinClientRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  auto prefix = client_prefix(r.prefix());
  if (!prefix.ok()) return prefix.status();
  if (SharedRegistry* shared = registry_.load()) {
    return shared->change(*service, [&](SavedService& s) {
      if (std::erase_if(s.pins, [&](const SavedPin& p) { return p.prefix == *prefix; }) == 0) {
        return Status(StatusCode::kNotFound, "no pin for " + prefix->to_string());
      }
      return Status();
    });
  }
  if (Status st = dataplane_.unpin_clients(*service, *prefix); !st.ok()) return st;
  return commit();
}

Result<MigrateResult> AdminApi::migrate_clients(const v1::MigrateClientsRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  MigrateResult result{.from = r.from_backend_id()};
  if (Status st = check_int("from_backend_id", r.from_backend_id()); !st.ok()) return st;
  if (r.has_to_backend_id()) {
    if (Status st = check_int("to_backend_id", r.to_backend_id()); !st.ok()) return st;
    if (r.to_backend_id() == r.from_backend_id()) {
      return Status::invalid(quoted_field("to_backend_id") + ": cannot migrate a backend's clients to itself");
    }
    result.to = r.to_backend_id();
  }
  auto moved = dataplane_.migrate_clients(*service, result.from, result.to);
  if (!moved.ok()) return moved.status();
  if (Status st = commit(); !st.ok()) return st;
  result.moved = *moved;
  return result;
}

Result<PolicyConfig> AdminApi::set_policy(const v1::SetPolicyRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  auto patch = policy_patch(r);
  if (!patch.ok()) return patch.status();
  return edit_policy(*service, [&patch](PolicyConfig& p) {
    patch->apply(p);
    return Status();
  });
}

Result<PolicyConfig> AdminApi::edit_policy(const std::string& service, const Dataplane::PolicyEdit& edit) {
  if (SharedRegistry* shared = registry_.load()) {
    Status st = shared->change(service, [&](SavedService& s) {
      // Connection settings the registry lacks are the running ones.
      if (auto running = dataplane_.policy(service); running.ok()) s.policy = saved_policy(s, *running);
      s.has_connect_timeout = s.has_idle_timeout = s.has_max_connections = s.has_pending_max = s.has_idlers = true;
      if (Status e = edit(s.policy); !e.ok()) return e;
      return BackendRegistry::check(s.policy);
    });
    if (!st.ok()) return st;
    return dataplane_.policy(service);
  }
  auto applied = dataplane_.update_policy(service, edit);
  if (!applied.ok()) return applied.status();
  // Outside the service's lock, so concurrent changes share one write.
  if (Status st = commit(); !st.ok()) return st;
  return applied;
}

Status AdminApi::blacklist_backend(const std::string& service, uint32_t id, double seconds) {
  if (Status st = check_seconds("blacklist_seconds", seconds); !st.ok()) return st;
  return dataplane_.blacklist_backend(service, id, seconds);
}

LogLevel AdminApi::log_level() { return Log::level(); }

Status AdminApi::set_log_level(LogLevel level) {
  if (level != LogLevel::kTrace && level != LogLevel::kDebug && level != LogLevel::kInfo) {
    return Status::invalid("log level: expected trace, debug or info");
  }
  LogLevel before = Log::level();
  Log::set_level(level);
  // Logged at warn so that the change shows whatever the level becomes.
  if (before != level) log_warn(std::string("log level now ") + to_string(level) + " (was " + to_string(before) + ")");
  return {};
}

Status AdminApi::close_connection(uint64_t id) {
  if (Status st = dataplane_.close_connection(id); !st.ok()) return st;
  log_info("connection " + std::to_string(id) + " closed by an operator");
  return {};
}

Status AdminApi::set_listen(const std::string& service, const SocketAddress& address) {
  return dataplane_.set_listen(service, address);
}

Status AdminApi::set_server_acl(const std::string& service, uint32_t id, const AccessList& acl) {
  return dataplane_.set_server_acl(service, id, acl);
}

Status AdminApi::set_tarpit_acl(const std::string& service, const AccessList& acl) {
  return dataplane_.set_tarpit_acl(service, acl);
}

Status AdminApi::set_client_acl(const std::string& service, const AccessList& acl) {
  if (SharedRegistry* shared = registry_.load()) {
    return shared->change(service, [&](SavedService& s) {
      s.client_acl = acl;
      return Status();
    });
  }
  if (Status st = dataplane_.set_client_acl(service, acl); !st.ok()) return st;
  return commit();
}

Result<AccessList> AdminApi::get_client_acl(const v1::GetClientAclRequest& r) const {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  return dataplane_.client_acl(*service);
}

Result<AccessList> AdminApi::set_client_acl(const v1::SetClientAclRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  if (static_cast<size_t>(r.entries_size()) > limits::kAclEntries) {
    return Status::invalid(quoted_field("entries") + ": at most " + std::to_string(limits::kAclEntries) +
                           " entries, got " + std::to_string(r.entries_size()));
  }
  AccessList acl;
  for (int i = 0; i < r.entries_size(); ++i) {
    const std::string field = "entries[" + std::to_string(i) + "]";
    if (r.entries(i).size() > limits::kAclEntryBytes) {
      return Status::invalid(quoted_field(field) + ": longer than " + std::to_string(limits::kAclEntryBytes) + " bytes");
    }
    auto entry = parse_access_entry(r.entries(i));
    if (!entry.ok()) return Status::invalid(quoted_field(field) + ": " + entry.status().message());
    acl.add(*entry);
  }
  if (Status st = set_client_acl(*service, acl); !st.ok()) return st;
  return acl;
}

namespace {

// SetTlsRequest's fields that are set, onto `tls`; each checked as stored text.
Status edit_tls(const v1::SetTlsRequest& r, TlsConfig& tls) {
  struct PathField {
    const char* name;
    bool has;
    const std::string& value;
    std::string* into;
  };
  const PathField paths[] = {
      {"cert_file", r.has_cert_file(), r.cert_file(), &tls.cert_file},
      {"key_file", r.has_key_file(), r.key_file(), &tls.key_file},
      {"ca_file", r.has_ca_file(), r.ca_file(), &tls.ca_file},
      {"ca_dir", r.has_ca_dir(), r.ca_dir(), &tls.ca_dir},
      {"sni_path", r.has_sni_path(), r.sni_path(), &tls.sni_path},
      {"ocsp_response_file", r.has_ocsp_response_file(), r.ocsp_response_file(), &tls.ocsp_response_file},
  };
  for (const PathField& f : paths) {
    if (!f.has) continue;
    if (Status st = check_text(quoted_field(f.name), f.value, limits::kPathBytes); !st.ok()) return st;
    *f.into = f.value;
  }
  if (r.has_cert_file() && r.cert_file().empty()) {
    return Status::invalid(quoted_field("cert_file") + ": a TLS service needs a certificate (TLS is turned off by "
                           "the configuration only)");
  }
  if (r.has_min_version()) {
    if (r.min_version() != "1.2" && r.min_version() != "1.3") {
      return field_error("min_version", "\"1.2\" or \"1.3\"", printable(r.min_version()));
    }
    tls.min_version = r.min_version();
  }
  if (r.has_ciphers()) {
    if (Status st = check_text(quoted_field("ciphers"), r.ciphers(), limits::kTlsListBytes); !st.ok()) return st;
    tls.ciphers = r.ciphers();
  }
  if (r.has_client_auth()) {
    auto auth = parse_tls_client_auth(r.client_auth());
    if (!auth) return field_error("client_auth", "off, optional or required", printable(r.client_auth()));
    tls.client_auth = *auth;
  }
  if (r.has_prefer_server_ciphers()) tls.prefer_server_ciphers = r.prefer_server_ciphers();
  if (r.has_alpn()) {
    if (Status st = check_text(quoted_field("alpn"), r.alpn(), limits::kTlsListBytes); !st.ok()) return st;
    tls.alpn.clear();
    std::stringstream list(r.alpn());
    for (std::string name; std::getline(list, name, ',');) {
      if (!name.empty()) tls.alpn.push_back(name);
    }
  }
  if (Status st = check_tls_settings(tls); !st.ok()) return Status::invalid("tls: " + st.message());
  return {};
}

}  // namespace

Result<TlsStatus> AdminApi::tls_status(const std::string& service) const {
  auto settings = dataplane_.tls_settings(service);
  if (!settings.ok()) return settings.status();
  auto terminator = dataplane_.tls_terminator(service);
  return TlsStatus{service, *settings, terminator ? terminator->not_after_unix() : 0};
}

Result<TlsStatus> AdminApi::get_tls(const v1::GetTlsRequest& r) const {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  return tls_status(*service);
}

Result<TlsStatus> AdminApi::change_tls(const std::string& service, const std::function<Status(TlsConfig&)>& edit) {
  if (!tls_loader_) {
    return Status(StatusCode::kFailedPrecondition, "TLS settings cannot be changed at runtime in this process");
  }
  auto applied = dataplane_.update_tls(service, [&](TlsConfig& tls) -> Result<std::shared_ptr<const TlsTerminator>> {
    if (Status st = edit(tls); !st.ok()) return st;
    auto made = tls_loader_(tls);
    if (!made.ok()) return Status::invalid("tls: " + made.status().message() + "; the running settings stay");
    return made;
  });
  if (!applied.ok()) return applied.status();
  log_info("service '" + service + "': tls: new settings loaded (certificate " + applied->cert_file +
           "); new clients get them");
  if (Status st = commit(); !st.ok()) return st;
  return tls_status(service);
}

Result<TlsStatus> AdminApi::set_tls(const v1::SetTlsRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  return change_tls(*service, [&](TlsConfig& tls) { return edit_tls(r, tls); });
}

Result<TlsStatus> AdminApi::reload_tls(const v1::ReloadTlsRequest& r) {
  auto service = service_of(r);
  if (!service.ok()) return service.status();
  return change_tls(*service, [](TlsConfig&) { return Status(); });
}

Status AdminApi::set_access_log_file(const std::optional<std::string>& path) {
  return dataplane_.set_access_log_file(path);
}

}  // namespace nib::admin
