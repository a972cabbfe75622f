#include "admin/grpc/grpc_admin_service.h"

#include <algorithm>
#include <cmath>
#include <charconv>
#include <string_view>

#include "admin/common/commit_change.h"
#include "admin/common/status_codes.h"
#include "admin/grpc/event_queue.h"
#include "admin/grpc/watch_events_reactor.h"
#include "dataplane/config/limits.h"
#include "dataplane/config/stored_text.h"
#include "dataplane/dataplane.h"

namespace nib::admin {
namespace {

// Ranges of the settings: dataplane/config/limits.h, shared with the config
// loaders and the REST API.
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 10'000;

grpc::Status to_grpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(grpc_code(status.code())), status.message()};
}

Status check_range(std::string_view field, uint64_t value, IntRange range) {
  if (range.contains_unsigned(value)) return {};
  return Status::invalid(std::string(field) + ": expected " + describe(range) + ", got " + std::to_string(value));
}

Status check_seconds(std::string_view field, double value) {
  if (limits::kSeconds.contains(value)) return {};
  return Status::invalid(std::string(field) + ": expected " + describe(limits::kSeconds) + ", got " +
                         std::to_string(value));
}

// Id 0 never names a backend (events use it for "no backend").
Status check_id(std::string_view field, uint32_t id) {
  if (id != 0) return {};
  return Status::invalid(std::string(field) + ": required (backend ids start at 1)");
}

// An IP literal (brackets around IPv6 tolerated) and a port; no name
// resolution: a slow DNS server must not stall an admin call.
Result<SocketAddress> backend_address(std::string_view ip, uint32_t port) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  if (ip.empty()) return Status::invalid("address: required (an IPv4 or IPv6 literal)");
  if (Status s = check_host("address", ip); !s.ok()) return s;
  if (Status s = check_range("port", port, limits::kPort); !s.ok()) return s;
  auto address = SocketAddress::from_ip(ip, static_cast<uint16_t>(port));
  if (!address.ok()) {
    return Status::invalid("address: expected an IPv4 or IPv6 literal, got '" + std::string(ip) + "'");
  }
  return address;
}

Result<IpKey> client_ip(std::string_view field, std::string_view text) {
  auto ip = IpKey::parse(text);
  if (!ip.ok()) return Status::invalid(std::string(field) + ": expected an IP address, got '" + std::string(text) + "'");
  return ip;
}

Result<IpPrefix> client_prefix(std::string_view text) {
  auto prefix = IpPrefix::parse(text);
  if (!prefix.ok()) {
    return Status::invalid("prefix: expected an IP address or a CIDR such as 10.1.0.0/16, got '" +
                           std::string(text) + "'");
  }
  return prefix;
}

// Page tokens are offsets into the table, as decimal text. Opaque to clients.
Result<uint64_t> page_offset(const std::string& token) {
  if (token.empty()) return uint64_t{0};
  uint64_t offset = 0;
  auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), offset);
  if (ec != std::errc() || end != token.data() + token.size()) {
    return Status::invalid("page_token: not a token from next_page_token");
  }
  return offset;
}

Result<uint32_t> page_size(uint32_t requested) {
  if (requested == 0) return kDefaultPageSize;
  if (requested > kMaxPageSize) {
    return Status::invalid("page_size: expected at most " + std::to_string(kMaxPageSize) + ", got " +
                           std::to_string(requested));
  }
  return requested;
}

// ---- Dataplane views -> messages

v1::BackendState backend_state(const BackendStatus& b) {
  switch (b.admin_state) {
    case AdminState::kDisabled: return v1::BACKEND_STATE_DISABLED;
    case AdminState::kDraining: return v1::BACKEND_STATE_DRAINING;
    case AdminState::kEnabled: break;
  }
  // Down by Pen's blacklist (passive) or by an active health check.
  return b.blacklisted || b.state == BackendState::kDown ? v1::BACKEND_STATE_DOWN : v1::BACKEND_STATE_UP;
}

std::string state_reason(const BackendStatus& b) {
  switch (b.admin_state) {
    case AdminState::kDisabled: return "disabled by an operator";
    case AdminState::kDraining:
      return b.drain_finished ? "draining: finished, no connection left"
                              : "draining: " + std::to_string(b.active) + " connection(s) still open";
    case AdminState::kEnabled: break;
  }
  if (b.state == BackendState::kDown) return "health: " + b.health.reason + "; last check: " + b.health.last_check;
  if (!b.blacklisted) return b.health.checked ? "health: last check: " + b.health.last_check : "";
  return "blacklisted after a failed connect; " + std::to_string(static_cast<int64_t>(std::ceil(
                                                      b.blacklist_remaining_seconds))) + " s left";
}

bool is_never(std::chrono::system_clock::time_point t) { return t.time_since_epoch().count() == 0; }

void set_time(std::chrono::system_clock::time_point t, google::protobuf::Timestamp* out) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  out->set_seconds(ns / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(ns % 1'000'000'000));
}

void fill(const BackendStatus& b, v1::Backend* out) {
  out->set_id(b.id);
  out->set_address(b.address.ip_string());
  out->set_port(b.address.port());
  out->set_host(b.host);
  out->set_index(b.index);
  out->set_weight(b.weight);
  out->set_prio(b.prio);
  out->set_soft_limit(b.soft_limit);
  out->set_hard_limit(b.hard_limit);
  out->set_state(backend_state(b));
  out->set_blacklisted(b.blacklisted);
  out->set_blacklist_remaining_seconds(b.blacklist_remaining_seconds);
  out->set_state_reason(state_reason(b));
  out->set_drain_finished(b.drain_finished);
  out->set_active_connections(b.active);
  out->set_total_connections(b.counters.connections);
  out->set_connect_failures(b.counters.connect_failures);
  out->set_bytes_in(b.counters.bytes_in);
  out->set_bytes_out(b.counters.bytes_out);
  out->set_remembered_clients(b.remembered_clients);
  out->set_datagrams_in(b.counters.datagrams_in);
  out->set_datagrams_out(b.counters.datagrams_out);
  v1::BackendHealth* h = out->mutable_health();
  h->set_checked(b.health.checked);
  h->set_healthy(b.health.up);
  h->set_reason(b.health.reason);
  if (!is_never(b.health.changed)) set_time(b.health.changed, h->mutable_changed());
  h->set_last_check_ok(b.health.last_check_ok);
  h->set_last_check(b.health.last_check);
  h->set_last_check_ms(b.health.last_check_ms);
  if (!is_never(b.health.last_check_time)) set_time(b.health.last_check_time, h->mutable_last_check_time());
  h->set_transitions(b.health.transitions);
}

void fill(const BackendStatus& b, v1::BackendStats* out) {
  out->set_id(b.id);
  out->set_address(b.address.to_string());
  out->set_state(backend_state(b));
  out->set_active_connections(b.active);
  out->set_total_connections(b.counters.connections);
  out->set_connect_failures(b.counters.connect_failures);
  out->set_bytes_in(b.counters.bytes_in);
  out->set_bytes_out(b.counters.bytes_out);
  out->set_datagrams_in(b.counters.datagrams_in);
  out->set_datagrams_out(b.counters.datagrams_out);
}

void fill(const LatencyHistogram& h, v1::LatencyHistogram* out) {
  for (double bound : kLatencyBoundsSeconds) out->add_upper_bounds_seconds(bound);
  for (uint64_t n : h.buckets) out->add_counts(n);
  out->set_count(h.count);
  out->set_sum_seconds(h.sum_seconds);
}

void fill(const UdpServiceStatus& u, v1::UdpStats* out) {
  const UdpCounters& c = u.counters;
  out->set_session_timeout_seconds(u.session_timeout_seconds);
  out->set_max_sessions(u.max_sessions);
  out->set_sessions(c.sessions);
  out->set_sessions_opened(c.sessions_opened);
  out->set_sessions_expired(c.sessions_expired);
  out->set_sessions_evicted(c.sessions_evicted);
  out->set_backend_refused(c.backend_refused);
  out->set_datagrams_in(c.datagrams_in);
  out->set_datagrams_out(c.datagrams_out);
  out->set_bytes_in(c.bytes_in);
  out->set_bytes_out(c.bytes_out);
  out->set_drops_no_backend(c.drops_no_backend);
  out->set_drops_stubborn(c.drops_stubborn);
  out->set_drops_no_socket(c.drops_no_socket);
  out->set_drops_to_backend(c.drops_to_backend);
  out->set_drops_to_client(c.drops_to_client);
  out->set_drops_acl(c.drops_acl);
}

v1::BalanceMode to_proto(BalanceMode mode) {
  switch (mode) {
    case BalanceMode::kAffinity: return v1::BALANCE_MODE_AFFINITY;
    case BalanceMode::kRoundRobin: return v1::BALANCE_MODE_ROUND_ROBIN;
    case BalanceMode::kHash: return v1::BALANCE_MODE_HASH;
    case BalanceMode::kWeight: return v1::BALANCE_MODE_WEIGHT;
    case BalanceMode::kPrio: return v1::BALANCE_MODE_PRIO;
  }
  return v1::BALANCE_MODE_UNSPECIFIED;
}

Result<BalanceMode> from_proto(int mode) {
  switch (mode) {
    case v1::BALANCE_MODE_AFFINITY: return BalanceMode::kAffinity;
    case v1::BALANCE_MODE_ROUND_ROBIN: return BalanceMode::kRoundRobin;
    case v1::BALANCE_MODE_HASH: return BalanceMode::kHash;
    case v1::BALANCE_MODE_WEIGHT: return BalanceMode::kWeight;
    case v1::BALANCE_MODE_PRIO: return BalanceMode::kPrio;
  }
  return Status::invalid("mode: expected AFFINITY, ROUND_ROBIN, HASH, WEIGHT or PRIO, got " + std::to_string(mode));
}

void fill(const PolicyConfig& p, v1::Policy* out) {
  out->set_mode(to_proto(p.mode));
  out->set_stubborn(p.stubborn);
  out->set_tracking_seconds(p.tracking_seconds);
  out->set_blacklist_seconds(p.blacklist_seconds);
  out->set_table_size(p.table_size);
}

void fill(const ServiceStatus& s, v1::Service* out) {
  out->set_name(s.name);
  out->set_protocol(s.protocol == Protocol::kTcp ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP);
  out->set_listen(s.listen.to_string());
  fill(s.policy, out->mutable_policy());
  out->set_backend_count(static_cast<uint32_t>(s.backends.size()));
  out->set_active_connections(s.active);
  out->set_max_connections(s.max_connections);
  out->set_connect_timeout_seconds(s.connect_timeout_seconds);
  out->set_idle_timeout_seconds(s.idle_timeout_seconds);
  if (s.emergency) fill(*s.emergency, out->mutable_emergency());
}

void fill(const ServiceStatus& s, v1::Stats* out) {
  out->set_service(s.name);
  out->set_active_connections(s.active);
  out->set_accepted(s.counters.accepted);
  out->set_rejected_max_connections(s.counters.rejected_max_connections);
  out->set_rejected_no_backend(s.counters.rejected_no_backend);
  out->set_rejected_stubborn(s.counters.rejected_stubborn);
  out->set_rejected_acl(s.counters.rejected_acl);
  out->set_affinity_breaks(s.counters.affinity_breaks);
  v1::AffinityStats* a = out->mutable_affinity();
  a->set_size(s.affinity.size);
  a->set_capacity(s.affinity.capacity);
  a->set_fill_ratio(s.affinity.capacity == 0 ? 0 : static_cast<double>(s.affinity.size) / s.affinity.capacity);
  a->set_hits(s.affinity.hits);
  a->set_misses(s.affinity.misses);
  a->set_evictions(s.affinity.evictions);
  a->set_expirations(s.affinity.expirations);
  auto fill_stats = [&s](const BackendStatus& b, v1::BackendStats* stats) {
    fill(b, stats);
    if (s.protocol == Protocol::kTcp) fill(b.counters.connect_latency, stats->mutable_connect_latency());
  };
  for (const auto& b : s.backends) fill_stats(b, out->add_backends());
  if (s.emergency) fill_stats(*s.emergency, out->mutable_emergency());
  if (s.udp) fill(*s.udp, out->mutable_udp());
}

double seconds_since(MonoTime then, MonoTime now) {
  return then > now ? 0 : std::chrono::duration<double>(now - then).count();
}

void fill(const AffinityEntry& e, MonoTime now, const std::vector<ClientPin>& pins, v1::Client* out) {
  out->set_address(e.client.to_string());
  out->set_backend_id(e.backend_id);
  out->set_first_seen_seconds_ago(seconds_since(e.first_seen, now));
  out->set_last_seen_seconds_ago(seconds_since(e.last_seen, now));
  out->set_connects(e.connects);
  out->set_bytes_in(e.bytes_in);
  out->set_bytes_out(e.bytes_out);
  for (const auto& pin : pins) {
    if (pin.prefix.contains(e.client)) out->set_pinned(true);
  }
}

// ---- Requests -> dataplane inputs

Result<BackendConfig> backend_config(const v1::AddBackendRequest& r) {
  auto address = backend_address(r.address(), r.port());
  if (!address.ok()) return address.status();
  BackendConfig c;
  c.host = address->ip_string();
  c.address = *address;
  c.weight = r.has_weight() ? r.weight() : 1;
  c.prio = r.prio();
  c.soft_limit = r.soft_limit();
  c.hard_limit = r.hard_limit();
  for (Status s : {check_range("weight", c.weight, limits::kWeight), check_range("prio", c.prio, limits::kPrio),
                   check_range("soft_limit", c.soft_limit, limits::kConnectionLimit),
                   check_range("hard_limit", c.hard_limit, limits::kConnectionLimit)}) {
    if (!s.ok()) return s;
  }
  return c;
}

Result<BackendPatch> backend_patch(const v1::UpdateBackendRequest& r) {
  BackendPatch p;
  struct Field {
    const char* name;
    bool set;
    uint32_t value;
    IntRange range;
    std::optional<uint32_t>* out;
  };
  Field fields[] = {{"weight", r.has_weight(), r.weight(), limits::kWeight, &p.weight},
                    {"prio", r.has_prio(), r.prio(), limits::kPrio, &p.prio},
                    {"soft_limit", r.has_soft_limit(), r.soft_limit(), limits::kConnectionLimit, &p.soft_limit},
                    {"hard_limit", r.has_hard_limit(), r.hard_limit(), limits::kConnectionLimit, &p.hard_limit}};
  for (const Field& f : fields) {
    if (!f.set) continue;
    if (Status s = check_range(f.name, f.value, f.range); !s.ok()) return s;
    *f.out = f.value;
  }
  if (r.has_enabled()) p.enabled = r.enabled();
  if (!r.has_weight() && !r.has_prio() && !r.has_soft_limit() && !r.has_hard_limit() && !r.has_enabled()) {
    return Status::invalid("nothing to update: set at least one of weight, prio, soft_limit, hard_limit, enabled");
  }
  return p;
}

// The current policy with the request's fields applied.
Result<PolicyConfig> patched_policy(PolicyConfig p, const v1::SetPolicyRequest& r) {
  if (r.has_mode()) {
    auto mode = from_proto(r.mode());
    if (!mode.ok()) return mode.status();
    p.mode = *mode;
  }
  if (r.has_stubborn()) p.stubborn = r.stubborn();
  if (r.has_tracking_seconds()) {
    if (Status s = check_seconds("tracking_seconds", r.tracking_seconds()); !s.ok()) return s;
    p.tracking_seconds = r.tracking_seconds();
  }
  if (r.has_blacklist_seconds()) {
    if (Status s = check_seconds("blacklist_seconds", r.blacklist_seconds()); !s.ok()) return s;
    p.blacklist_seconds = r.blacklist_seconds();
  }
  if (r.has_table_size()) {
    if (Status s = check_range("table_size", r.table_size(), limits::kTableSize); !s.ok()) return s;
    p.table_size = r.table_size();
  }
  return p;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

GrpcAdminService::GrpcAdminService(Dataplane& dataplane, GrpcAdminServiceOptions options)
    : dataplane_(dataplane), options_(options) {}

GrpcAdminService::~GrpcAdminService() { shutdown(); }

void GrpcAdminService::shutdown() {
  std::lock_guard lock(streams_mutex_);
  shut_down_ = true;
  for (const auto& q : streams_) q->close();
}

grpc::Status GrpcAdminService::authorize(const grpc::ServerContextBase* context, bool changes) const {
  const AdminAuth& auth = options_.auth;
  if (!auth.enabled()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  std::string_view header =
      it == metadata.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
  Role role = auth.authorize(header);
  if (role == Role::kNone) {
    // Same words as the REST API; the token itself is never echoed.
    return to_grpc(Status(StatusCode::kUnauthenticated,
                          header.empty() ? "this call needs a bearer token (metadata authorization: Bearer ...)"
                                         : "the bearer token is not valid"));
  }
  if (changes && role != Role::kAdmin) {
    return to_grpc(
        Status(StatusCode::kPermissionDenied, "a read-only token cannot change anything; use an admin token"));
  }
  return grpc::Status::OK;
}

Result<std::string> GrpcAdminService::resolve_service(const std::string& requested) const {
  std::vector<std::string> names = dataplane_.service_names();
  if (requested.empty()) {
    if (names.size() == 1) return names[0];
    return Status::invalid("service: required, nib runs " + std::to_string(names.size()) + " services (" +
                           join_names(names) + ")");
  }
  if (std::find(names.begin(), names.end(), requested) == names.end()) {
    return Status::not_found("service '" + requested + "' not found; services: " + join_names(names));
  }
  return requested;
}

Status GrpcAdminService::fill_backend(const std::string& service, uint32_t id, v1::Backend* out) const {
  auto b = dataplane_.backend(service, id);
  if (!b.ok()) return b.status();
  fill(*b, out);
  return {};
}

Status GrpcAdminService::check_backend_exists(const std::string& service, uint32_t id) const {
  if (Status s = check_id("backend_id", id); !s.ok()) return s;
  auto status = dataplane_.service(service);
  if (!status.ok()) return status.status();
  for (const auto& b : status->backends) {
    if (b.id == id) return {};
  }
  if (status->emergency && status->emergency->id == id) return {};
  return Status::not_found("service '" + service + "' has no backend with id " + std::to_string(id));
}

grpc::Status GrpcAdminService::ListServices(grpc::ServerContext* context, const v1::ListServicesRequest*,
                                            v1::ListServicesResponse* out) {
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied;
  for (const auto& s : dataplane_.status()) fill(s, out->add_services());
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::ListBackends(grpc::ServerContext* context, const v1::ListBackendsRequest* r,
                                            v1::ListBackendsResponse* out) {
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto status = dataplane_.service_with_clients(*service);
  if (!status.ok()) return to_grpc(status.status());
  for (const auto& b : status->backends) fill(b, out->add_backends());
  if (status->emergency) fill(*status->emergency, out->mutable_emergency());
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::GetBackend(grpc::ServerContext* context, const v1::GetBackendRequest* r, v1::Backend* out) {
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  if (Status s = check_id("id", r->id()); !s.ok()) return to_grpc(s);
  return to_grpc(fill_backend(*service, r->id(), out));
}

grpc::Status GrpcAdminService::AddBackend(grpc::ServerContext* context, const v1::AddBackendRequest* r, v1::Backend* out) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto config = backend_config(*r);
  if (!config.ok()) return to_grpc(config.status());
  auto added = dataplane_.add_backend(*service, *config);
  if (!added.ok()) return to_grpc(added.status());
  if (Status s = commit_change(dataplane_); !s.ok()) return to_grpc(s);
  fill(*added, out);
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::UpdateBackend(grpc::ServerContext* context, const v1::UpdateBackendRequest* r,
                                             v1::Backend* out) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  if (Status s = check_id("id", r->id()); !s.ok()) return to_grpc(s);
  auto patch = backend_patch(*r);
  if (!patch.ok()) return to_grpc(patch.status());
  auto updated = dataplane_.update_backend(*service, r->id(), *patch);
  if (!updated.ok()) return to_grpc(updated.status());
  if (Status s = commit_change(dataplane_); !s.ok()) return to_grpc(s);
  return to_grpc(fill_backend(*service, r->id(), out));
}

grpc::Status GrpcAdminService::RemoveBackend(grpc::ServerContext* context, const v1::RemoveBackendRequest* r,
                                             v1::RemoveBackendResponse*) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  if (Status s = check_id("id", r->id()); !s.ok()) return to_grpc(s);
  if (Status s = dataplane_.remove_backend(*service, r->id()); !s.ok()) return to_grpc(s);
  return to_grpc(commit_change(dataplane_));
}

grpc::Status GrpcAdminService::DrainBackend(grpc::ServerContext* context, const v1::DrainBackendRequest* r,
                                            v1::Backend* out) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  if (Status s = check_id("id", r->id()); !s.ok()) return to_grpc(s);
  std::optional<double> timeout;
  if (r->has_timeout_seconds()) {
    if (Status s = check_seconds("timeout_seconds", r->timeout_seconds()); !s.ok()) return to_grpc(s);
    timeout = r->timeout_seconds();
  }
  auto drained = dataplane_.drain_backend(*service, r->id(), timeout);
  if (!drained.ok()) return to_grpc(drained.status());
  if (Status s = commit_change(dataplane_); !s.ok()) return to_grpc(s);
  return to_grpc(fill_backend(*service, r->id(), out));
}

grpc::Status GrpcAdminService::ListClients(grpc::ServerContext* context, const v1::ListClientsRequest* r,
                                           v1::ListClientsResponse* out) {
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto size = page_size(r->page_size());
  if (!size.ok()) return to_grpc(size.status());
  auto offset = page_offset(r->page_token());
  if (!offset.ok()) return to_grpc(offset.status());
  std::optional<uint32_t> backend;
  if (r->has_backend_id()) {
    if (Status s = check_backend_exists(*service, r->backend_id()); !s.ok()) return to_grpc(s);
    backend = r->backend_id();
  }
  // One more than a page tells whether another page follows.
  auto clients = dataplane_.list_clients(*service, *offset, uint64_t{*size} + 1, backend);
  if (!clients.ok()) return to_grpc(clients.status());
  auto pins = dataplane_.pins(*service);
  std::vector<ClientPin> pin_list = pins.ok() ? *pins : std::vector<ClientPin>{};
  MonoTime now = MonoClock::now();
  for (size_t i = 0; i < clients->size() && i < *size; ++i) fill((*clients)[i], now, pin_list, out->add_clients());
  if (clients->size() > *size) out->set_next_page_token(std::to_string(*offset + *size));
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::ForgetClient(grpc::ServerContext* context, const v1::ForgetClientRequest* r,
                                            v1::ForgetClientResponse*) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto ip = client_ip("address", r->address());
  if (!ip.ok()) return to_grpc(ip.status());
  if (Status s = dataplane_.forget_client(*service, *ip); !s.ok()) return to_grpc(s);
  return to_grpc(commit_change(dataplane_));
}

grpc::Status GrpcAdminService::PinClient(grpc::ServerContext* context, const v1::PinClientRequest* r,
                                         v1::PinClientResponse*) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto prefix = client_prefix(r->prefix());
  if (!prefix.ok()) return to_grpc(prefix.status());
  if (Status s = check_id("backend_id", r->backend_id()); !s.ok()) return to_grpc(s);
  if (Status s = dataplane_.pin_clients(*service, *prefix, r->backend_id()); !s.ok()) return to_grpc(s);
  return to_grpc(commit_change(dataplane_));
}

grpc::Status GrpcAdminService::UnpinClient(grpc::ServerContext* context, const v1::UnpinClientRequest* r,
                                           v1::UnpinClientResponse*) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto prefix = client_prefix(r->prefix());
  if (!prefix.ok()) return to_grpc(prefix.status());
  if (Status s = dataplane_.unpin_clients(*service, *prefix); !s.ok()) return to_grpc(s);
  return to_grpc(commit_change(dataplane_));
}

grpc::Status GrpcAdminService::ListPins(grpc::ServerContext* context, const v1::ListPinsRequest* r,
                                        v1::ListPinsResponse* out) {
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto pins = dataplane_.pins(*service);
  if (!pins.ok()) return to_grpc(pins.status());
  for (const auto& p : *pins) {
    v1::Pin* pin = out->add_pins();
    pin->set_prefix(p.prefix.to_string());
    pin->set_backend_id(p.backend_id);
  }
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::MigrateClients(grpc::ServerContext* context, const v1::MigrateClientsRequest* r,
                                              v1::MigrateClientsResponse* out) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  if (Status s = check_id("from_backend_id", r->from_backend_id()); !s.ok()) return to_grpc(s);
  std::optional<uint32_t> to;
  if (r->has_to_backend_id()) {
    if (Status s = check_id("to_backend_id", r->to_backend_id()); !s.ok()) return to_grpc(s);
    if (r->to_backend_id() == r->from_backend_id()) {
      return to_grpc(Status::invalid("to_backend_id: must differ from from_backend_id"));
    }
    to = r->to_backend_id();
  }
  auto moved = dataplane_.migrate_clients(*service, r->from_backend_id(), to);
  if (!moved.ok()) return to_grpc(moved.status());
  if (Status s = commit_change(dataplane_); !s.ok()) return to_grpc(s);
  out->set_moved(*moved);
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* r, v1::Stats* out) {
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto status = dataplane_.service(*service);
  if (!status.ok()) return to_grpc(status.status());
  fill(*status, out);
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::GetPolicy(grpc::ServerContext* context, const v1::GetPolicyRequest* r, v1::Policy* out) {
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  auto policy = dataplane_.policy(*service);
  if (!policy.ok()) return to_grpc(policy.status());
  fill(*policy, out);
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::SetPolicy(grpc::ServerContext* context, const v1::SetPolicyRequest* r, v1::Policy* out) {
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied;
  auto service = resolve_service(r->service());
  if (!service.ok()) return to_grpc(service.status());
  {
    std::lock_guard lock(policy_mutex_);
    auto current = dataplane_.policy(*service);
    if (!current.ok()) return to_grpc(current.status());
    auto wanted = patched_policy(*current, *r);
    if (!wanted.ok()) return to_grpc(wanted.status());
    if (Status s = dataplane_.set_policy(*service, *wanted); !s.ok()) return to_grpc(s);
    auto applied = dataplane_.policy(*service);
    fill(applied.ok() ? *applied : *wanted, out);
  }
  // Outside the lock, so concurrent changes share one write.
  return to_grpc(commit_change(dataplane_));
}

grpc::Status GrpcAdminService::add_stream(const std::shared_ptr<EventQueue>& queue) {
  std::lock_guard lock(streams_mutex_);
  if (shut_down_) return {grpc::StatusCode::UNAVAILABLE, "the admin server is stopping"};
  if (streams_.size() >= options_.max_watch_streams) {
    if (options_.stats) options_.stats->hit(AdminLimitId::kGrpcMaxWatchStreams);
    return {grpc::StatusCode::RESOURCE_EXHAUSTED,
            "too many WatchEvents streams are open (" + std::to_string(options_.max_watch_streams) +
                "); close one, or raise admin.limits.grpc.max_watch_streams"};
  }
  streams_.insert(queue);
  if (options_.stats) options_.stats->add(AdminGauge::kGrpcWatchStreams, 1);
  return grpc::Status::OK;
}

void GrpcAdminService::remove_stream(const std::shared_ptr<EventQueue>& queue) {
  std::lock_guard lock(streams_mutex_);
  if (streams_.erase(queue) > 0 && options_.stats) options_.stats->add(AdminGauge::kGrpcWatchStreams, -1);
}

grpc::ServerWriteReactor<v1::Event>* GrpcAdminService::WatchEvents(grpc::CallbackServerContext* context,
                                                                   const v1::WatchEventsRequest* r) {
  WatchEventsReactor::Setup setup{.bus = &dataplane_.events(),
                                  .queue = std::make_shared<EventQueue>(options_.watch_queue_capacity),
                                  .writer = &stream_writer_,
                                  .on_done = [this](const std::shared_ptr<EventQueue>& q) { remove_stream(q); }};
  grpc::Status refusal = authorize(context, false);
  if (refusal.ok() && !r->service().empty()) {
    auto resolved = resolve_service(r->service());
    if (resolved.ok()) {
      setup.service = *resolved;
    } else {
      refusal = to_grpc(resolved.status());
    }
  }
  if (refusal.ok()) refusal = add_stream(setup.queue);
  return new WatchEventsReactor(std::move(setup), refusal);
}

}  // namespace nib::admin
