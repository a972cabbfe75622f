#include "admin/core/admin_views.h"

#include <algorithm>
#include <chrono>

namespace nib::admin {
namespace {


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

double seconds_since(MonoTime then, MonoTime now) {
  return then > now ? 0 : std::chrono::duration<double>(now - then).count();
}

v1::AdminState admin_state(AdminState s) {
  switch (s) {
    case AdminState::kEnabled: return v1::ADMIN_STATE_ENABLED;
    case AdminState::kDraining: return v1::ADMIN_STATE_DRAINING;
    case AdminState::kDisabled: return v1::ADMIN_STATE_DISABLED;
  }
  return v1::ADMIN_STATE_UNSPECIFIED;
}

double unix_seconds(std::chrono::system_clock::time_point t) {
  return is_never(t) ? 0.0 : std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

void fill(const BackendStatus& b, v1::Backend* out) {
  out->set_id(b.id);
  out->set_address(b.address.ip_string());
  out->set_port(b.address.port());
  out->set_host(b.host);
  out->set_source(b.source);
  out->set_index(b.index);
  out->set_weight(b.weight);
  out->set_prio(b.prio);
  out->set_soft_limit(b.soft_limit);
  out->set_hard_limit(b.hard_limit);
  out->set_proxy_protocol(to_proto(b.proxy_protocol));
  out->set_tcp_fast_open(b.tcp_fast_open);
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
  out->set_admin_state(admin_state(b.admin_state));
  fill(b.counters.connect_latency, out->mutable_connect_latency());
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
  h->set_changed_unix(unix_seconds(b.health.changed));
  h->set_last_check_unix(unix_seconds(b.health.last_check_time));
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
  v1::UdpDrops* d = out->mutable_drops();
  d->set_no_backend(c.drops_no_backend);
  d->set_stubborn(c.drops_stubborn);
  d->set_no_socket(c.drops_no_socket);
  d->set_to_backend(c.drops_to_backend);
  d->set_to_client(c.drops_to_client);
  d->set_acl(c.drops_acl);
}

void fill(const PolicyConfig& p, v1::Policy* out) {
  out->set_mode(to_proto(p.mode));
  out->set_stubborn(p.stubborn);
  out->set_consistent(p.consistent);
  out->set_tracking_seconds(p.tracking_seconds);
  out->set_blacklist_seconds(p.blacklist_seconds);
  out->set_table_size(p.table_size);
  out->set_connect_timeout_seconds(p.connect_timeout_seconds);
  out->set_idle_timeout_seconds(p.idle_timeout_seconds);
  out->set_max_connections(p.max_connections);
  out->set_pending_max(p.pending_max);
  out->set_idlers(p.idlers);
}

void fill(const ServiceStatus& s, v1::Service* out) {
  out->set_name(s.name);
  out->set_protocol(s.protocol == Protocol::kTcp ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP);
  out->set_listen(s.listen_text());
  fill(s.policy, out->mutable_policy());
  out->set_idlers_open(s.idlers_open);
  out->set_tls(s.tls);
  out->set_tls_not_after_unix(s.tls_not_after_unix);
  out->set_backend_tls(s.backend_tls);
  out->set_backend_count(static_cast<uint32_t>(s.backends.size()));
  out->set_active_connections(s.active);
  out->set_max_connections(s.max_connections);
  out->set_connect_timeout_seconds(s.connect_timeout_seconds);
  out->set_idle_timeout_seconds(s.idle_timeout_seconds);
  if (s.emergency) fill(*s.emergency, out->mutable_emergency());
  if (s.abuse) fill(*s.abuse, out->mutable_abuse());
  const ServiceCounters& c = s.counters;
  v1::ServiceCounters* counters = out->mutable_counters();
  counters->set_accepted(c.accepted);
  counters->set_limit_waits(c.limit_waits);
  counters->set_pending_waits(c.pending_waits);
  counters->set_rejected_no_backend(c.rejected_no_backend);
  counters->set_rejected_stubborn(c.rejected_stubborn);
  counters->set_rejected_acl(c.rejected_acl);
  counters->set_abuse(c.abuse);
  counters->set_proxy_protocol_errors(c.proxy_protocol_errors);
  counters->set_http_header_errors(c.http_header_errors);
  counters->set_tls_handshakes(c.tls_handshakes);
  counters->set_tls_handshake_failures(c.tls_handshake_failures);
  counters->set_tls_handshake_timeouts(c.tls_handshake_timeouts);
  counters->set_backend_tls_handshakes(c.backend_tls_handshakes);
  counters->set_backend_tls_handshake_failures(c.backend_tls_handshake_failures);
  counters->set_affinity_breaks(c.affinity_breaks);
  fill(s.affinity, out->mutable_affinity());
  for (const auto& b : s.backends) fill(b, out->add_backends());
  if (s.udp) fill(*s.udp, out->mutable_udp());
}

void fill(const AffinityStats& a, v1::AffinityStats* out) {
  out->set_size(a.size);
  out->set_capacity(a.capacity);
  out->set_fill_ratio(a.capacity == 0 ? 0 : static_cast<double>(a.size) / a.capacity);
  out->set_hits(a.hits);
  out->set_misses(a.misses);
  out->set_evictions(a.evictions);
  out->set_expirations(a.expirations);
}

void fill(const ServiceStatus& s, v1::Stats* out) {
  out->set_service(s.name);
  out->set_active_connections(s.active);
  out->set_accepted(s.counters.accepted);
  out->set_limit_waits(s.counters.limit_waits);
  out->set_pending_waits(s.counters.pending_waits);
  out->set_rejected_no_backend(s.counters.rejected_no_backend);
  out->set_rejected_stubborn(s.counters.rejected_stubborn);
  out->set_rejected_acl(s.counters.rejected_acl);
  out->set_abuse(s.counters.abuse);
  out->set_proxy_protocol_errors(s.counters.proxy_protocol_errors);
  out->set_http_header_errors(s.counters.http_header_errors);
  out->set_affinity_breaks(s.counters.affinity_breaks);
  fill(s.affinity, out->mutable_affinity());
  auto fill_stats = [&s](const BackendStatus& b, v1::BackendStats* stats) {
    fill(b, stats);
    if (s.protocol == Protocol::kTcp) fill(b.counters.connect_latency, stats->mutable_connect_latency());
  };
  for (const auto& b : s.backends) fill_stats(b, out->add_backends());
  if (s.emergency) fill_stats(*s.emergency, out->mutable_emergency());
  if (s.udp) fill(*s.udp, out->mutable_udp());
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
  for (const auto& p : pins) fill(p, out->add_pins());
}

void fill(const MigrateResult& m, v1::MigrateClientsResponse* out) { out->set_moved(m.moved); }
// Operations that answer nothing but success.
void fill(const ClientPin&, v1::PinClientResponse*) {}

void fill(const ClientPin& p, v1::Pin* out) {
  out->set_prefix(p.prefix.to_string());
  out->set_backend_id(p.backend_id);
}

void fill(const AccessList& acl, v1::ClientAcl* out) {
  for (const AccessEntry& e : acl.entries()) out->add_entries(e.to_string());
}

void fill(const TlsConfig& tls, v1::TlsSettings* out) {
  out->set_cert_file(tls.cert_file);
  out->set_key_file(tls.key_file);
  out->set_ca_file(tls.ca_file);
  out->set_ca_dir(tls.ca_dir);
  out->set_sni_path(tls.sni_path);
  out->set_min_version(tls.min_version);
  out->set_ciphers(tls.ciphers);
  out->set_client_auth(to_string(tls.client_auth));
  out->set_prefer_server_ciphers(tls.prefer_server_ciphers);
  for (const auto& name : tls.alpn) out->add_alpn(name);
  out->set_ocsp_response_file(tls.ocsp_response_file);
  out->set_handshake_timeout_seconds(tls.handshake_timeout_seconds);
  out->set_watch_interval_seconds(tls.watch_interval_seconds);
}

void fill(const TlsStatus& tls, v1::TlsSettings* out) {
  fill(tls.settings, out);
  out->set_not_after_unix(tls.not_after_unix);
}

void fill(const RegistryStatus& r, v1::Registry* out) {
  out->set_store(r.store);
  for (const auto& e : r.endpoints) out->add_endpoints(e);
  out->set_endpoint(r.endpoint);
  out->set_prefix(r.prefix);
  out->set_connected(r.connected);
  out->set_applied_revision(r.applied_revision);
  out->set_known_revision(r.known_revision);
  out->set_lag_revisions(r.lag());
  out->set_seconds_since_contact(r.seconds_since_contact);
  out->set_last_error(r.last_error);
  out->set_writes(r.writes);
  out->set_conflicts(r.conflicts);
  out->set_write_failures(r.write_failures);
  out->set_resyncs(r.resyncs);
  out->set_reconnects(r.reconnects);
  out->set_apply_errors(r.apply_errors);
}

}  // namespace nib::admin
