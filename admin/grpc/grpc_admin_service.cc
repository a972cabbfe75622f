#include "admin/grpc/grpc_admin_service.h"

#include <algorithm>
#include <cmath>
#include <charconv>
#include <string_view>

#include "admin/common/status_codes.h"
#include "admin/grpc/watch_events_reactor.h"
#include "dataplane/dataplane.h"

namespace nib::admin {
namespace {

grpc::Status to_grpc(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return {static_cast<grpc::StatusCode>(grpc_code(status.code())), status.message()};
}

// ---- Dataplane views -> messages

v1::BackendState backend_state(const BackendStatus& b) {
  switch (b.state) {
    case BackendState::kUp: return v1::BACKEND_STATE_UP;
    case BackendState::kDown: return v1::BACKEND_STATE_DOWN;
    case BackendState::kDraining: return v1::BACKEND_STATE_DRAINING;
    case BackendState::kDisabled: return v1::BACKEND_STATE_DISABLED;
  }
  return v1::BACKEND_STATE_UNSPECIFIED;
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
  out->set_state_reason(b.state_reason);
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

void fill(const std::vector<ServiceStatus>& services, v1::ListServicesResponse* out) {
  for (const auto& s : services) fill(s, out->add_services());
}

void fill(const ServiceStatus& s, v1::ListBackendsResponse* out) {
  for (const auto& b : s.backends) fill(b, out->add_backends());
  if (s.emergency) fill(*s.emergency, out->mutable_emergency());
}

void fill(const ClientPage& page, v1::ListClientsResponse* out) {
  for (const auto& c : page.clients) fill(c, page.now, page.pins, out->add_clients());
  if (page.next_offset) out->set_next_page_token(std::to_string(*page.next_offset));
}

void fill(const std::vector<ClientPin>& pins, v1::ListPinsResponse* out) {
  for (const auto& p : pins) {
    v1::Pin* pin = out->add_pins();
    pin->set_prefix(p.prefix.to_string());
    pin->set_backend_id(p.backend_id);
  }
}

void fill(const MigrateResult& m, v1::MigrateClientsResponse* out) { out->set_moved(m.moved); }
// Operations that answer nothing but success.
void fill(const ClientPin&, v1::PinClientResponse*) {}

grpc::Status reply(const Status& status) { return to_grpc(status); }

// The answer of an operation: OK with `out` filled, or the error.
template <typename T, typename Out>
grpc::Status reply(const Result<T>& result, Out* out) {
  if (!result.ok()) return to_grpc(result.status());
  fill(*result, out);
  return grpc::Status::OK;
}


}  // namespace

GrpcAdminService::GrpcAdminService(AdminApi& api, GrpcAdminServiceOptions options)
    : api_(api),
      options_(options),
      watches_(api.dataplane().events(),
               EventSubscriptionLimits{.max_open = options_.max_watch_streams,
                                       .queue_capacity = options_.watch_queue_capacity,
                                       .limit = AdminLimitId::kGrpcMaxWatchStreams,
                                       .gauge = AdminGauge::kGrpcWatchStreams,
                                       .what = "WatchEvents streams"},
               options_.stats) {}

GrpcAdminService::~GrpcAdminService() { shutdown(); }

void GrpcAdminService::shutdown() { watches_.close_all(); }

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

// Each call: authorised (reads need a valid token, changes an admin one),
// then one line to the core. Validation, the DNS policy, the change and its
// durable commit all happen in AdminApi.
#define NIB_READ(context) \
  if (grpc::Status denied = authorize(context, false); !denied.ok()) return denied
#define NIB_CHANGE(context) \
  if (grpc::Status denied = authorize(context, true); !denied.ok()) return denied

grpc::Status GrpcAdminService::ListServices(grpc::ServerContext* c, const v1::ListServicesRequest* r,
                                            v1::ListServicesResponse* out) {
  NIB_READ(c);
  fill(api_.list_services(*r), out);
  return grpc::Status::OK;
}

grpc::Status GrpcAdminService::ListBackends(grpc::ServerContext* c, const v1::ListBackendsRequest* r,
                                            v1::ListBackendsResponse* out) {
  NIB_READ(c);
  return reply(api_.list_backends(*r), out);
}

grpc::Status GrpcAdminService::GetBackend(grpc::ServerContext* c, const v1::GetBackendRequest* r, v1::Backend* out) {
  NIB_READ(c);
  return reply(api_.get_backend(*r), out);
}

grpc::Status GrpcAdminService::AddBackend(grpc::ServerContext* c, const v1::AddBackendRequest* r, v1::Backend* out) {
  NIB_CHANGE(c);
  return reply(api_.add_backend(*r), out);
}

grpc::Status GrpcAdminService::UpdateBackend(grpc::ServerContext* c, const v1::UpdateBackendRequest* r,
                                             v1::Backend* out) {
  NIB_CHANGE(c);
  return reply(api_.update_backend(*r), out);
}

grpc::Status GrpcAdminService::RemoveBackend(grpc::ServerContext* c, const v1::RemoveBackendRequest* r,
                                             v1::RemoveBackendResponse*) {
  NIB_CHANGE(c);
  return reply(api_.remove_backend(*r));
}

grpc::Status GrpcAdminService::DrainBackend(grpc::ServerContext* c, const v1::DrainBackendRequest* r,
                                            v1::Backend* out) {
  NIB_CHANGE(c);
  return reply(api_.drain_backend(*r), out);
}

grpc::Status GrpcAdminService::ListClients(grpc::ServerContext* c, const v1::ListClientsRequest* r,
                                           v1::ListClientsResponse* out) {
  NIB_READ(c);
  return reply(api_.list_clients(*r), out);
}

grpc::Status GrpcAdminService::ForgetClient(grpc::ServerContext* c, const v1::ForgetClientRequest* r,
                                            v1::ForgetClientResponse*) {
  NIB_CHANGE(c);
  return reply(api_.forget_client(*r));
}

grpc::Status GrpcAdminService::PinClient(grpc::ServerContext* c, const v1::PinClientRequest* r,
                                         v1::PinClientResponse* out) {
  NIB_CHANGE(c);
  return reply(api_.pin_client(*r), out);
}

grpc::Status GrpcAdminService::UnpinClient(grpc::ServerContext* c, const v1::UnpinClientRequest* r,
                                           v1::UnpinClientResponse*) {
  NIB_CHANGE(c);
  return reply(api_.unpin_client(*r));
}

grpc::Status GrpcAdminService::ListPins(grpc::ServerContext* c, const v1::ListPinsRequest* r,
                                        v1::ListPinsResponse* out) {
  NIB_READ(c);
  return reply(api_.list_pins(*r), out);
}

grpc::Status GrpcAdminService::MigrateClients(grpc::ServerContext* c, const v1::MigrateClientsRequest* r,
                                              v1::MigrateClientsResponse* out) {
  NIB_CHANGE(c);
  return reply(api_.migrate_clients(*r), out);
}

grpc::Status GrpcAdminService::GetStats(grpc::ServerContext* c, const v1::GetStatsRequest* r, v1::Stats* out) {
  NIB_READ(c);
  return reply(api_.get_stats(*r), out);
}

grpc::Status GrpcAdminService::GetPolicy(grpc::ServerContext* c, const v1::GetPolicyRequest* r, v1::Policy* out) {
  NIB_READ(c);
  return reply(api_.get_policy(*r), out);
}

grpc::Status GrpcAdminService::SetPolicy(grpc::ServerContext* c, const v1::SetPolicyRequest* r, v1::Policy* out) {
  NIB_CHANGE(c);
  return reply(api_.set_policy(*r), out);
}

#undef NIB_READ
#undef NIB_CHANGE

grpc::ServerWriteReactor<v1::Event>* GrpcAdminService::WatchEvents(grpc::CallbackServerContext* context,
                                                                   const v1::WatchEventsRequest* r) {
  WatchEventsReactor::Setup setup{.writer = &stream_writer_,
                                  .on_done = [this](const std::shared_ptr<EventSubscription>& s) {
                                    watches_.release(s);
                                  }};
  grpc::Status refusal = authorize(context, false);
  std::string service;
  if (refusal.ok() && !r->service().empty()) {
    auto resolved = api_.resolve_service(r->service());
    if (resolved.ok()) {
      service = *resolved;
    } else {
      refusal = to_grpc(resolved.status());
    }
  }
  if (refusal.ok()) {
    auto opened = watches_.open(service);
    if (opened.ok()) {
      setup.events = std::move(*opened);
    } else {
      refusal = to_grpc(opened.status());
    }
  }
  return new WatchEventsReactor(std::move(setup), refusal);
}

}  // namespace nib::admin
