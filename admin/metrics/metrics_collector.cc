#include "admin/metrics/metrics_collector.h"

#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>

#include "admin/common/admin_plane_stats.h"
#include "admin/common/discovery_stats.h"
#include "admin/core/admin_api.h"
#include "dataplane/dataplane.h"

namespace nib::admin {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

constexpr const char* kStates[] = {"up", "down", "draining", "disabled"};

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

void add(MetricFamily& f, Labels labels, const LatencyHistogram& h) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = h.count;
  m.histogram.sample_sum = h.sum_seconds;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kLatencyBuckets; ++i) {
    cumulative += h.buckets[i];
    double bound = i < kLatencyBoundsSeconds.size() ? kLatencyBoundsSeconds[i]
                                                    : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  f.metric.push_back(std::move(m));
}

Labels with(Labels labels, std::string name, std::string value) {
  labels.push_back({std::move(name), std::move(value)});
  return labels;
}

// The backend families, in the order they are emitted.
struct BackendFamilies {
  MetricFamily up = family("nib_backend_up", "1 when the backend takes new clients (enabled, not blacklisted)",
                           MetricType::Gauge);
  MetricFamily state = family("nib_backend_state", "1 for the backend's current state, 0 for the others",
                              MetricType::Gauge);
  MetricFamily active = family("nib_backend_active_connections", "Open connections to the backend",
                               MetricType::Gauge);
  MetricFamily connections = family("nib_backend_connections_total", "Connections to the backend that succeeded",
                                    MetricType::Counter);
  MetricFamily failures = family("nib_backend_connect_failures_total",
                                 "Connects to the backend that were refused, reset or timed out",
                                 MetricType::Counter);
  MetricFamily bytes_in = family("nib_backend_bytes_in_total", "Bytes relayed from clients to the backend",
                                 MetricType::Counter);
  MetricFamily bytes_out = family("nib_backend_bytes_out_total", "Bytes relayed from the backend to clients",
                                  MetricType::Counter);
  MetricFamily connect_latency = family("nib_backend_connect_duration_seconds",
                                        "Time from connect() to an established backend connection (TCP)",
                                        MetricType::Histogram);
  MetricFamily datagrams = family("nib_backend_datagrams_total",
                                  "Datagrams relayed, by direction (in: to the backend; UDP services)",
                                  MetricType::Counter);
  MetricFamily weight = family("nib_backend_weight", "The backend's configured weight", MetricType::Gauge);
  MetricFamily transitions = family("nib_backend_health_transitions_total",
                                    "Health changes of the backend (up to down and back), from checks or failures",
                                    MetricType::Counter);

  void add_backend(const std::string& service, Protocol protocol, const BackendStatus& b) {
    Labels l{{"service", service}, {"backend", std::to_string(b.id)}, {"address", b.address.to_string()}};
    const char* current = to_string(b.state);
    add(up, l, b.usable() ? 1 : 0);
    for (const char* s : kStates) add(state, with(l, "state", s), std::string_view(s) == current ? 1 : 0);
    add(active, l, static_cast<double>(b.active));
    add(connections, l, static_cast<double>(b.counters.connections));
    add(failures, l, static_cast<double>(b.counters.connect_failures));
    add(bytes_in, l, static_cast<double>(b.counters.bytes_in));
    add(bytes_out, l, static_cast<double>(b.counters.bytes_out));
    if (protocol == Protocol::kTcp) {
      add(connect_latency, l, b.counters.connect_latency);
    } else {
      add(datagrams, with(l, "direction", "in"), static_cast<double>(b.counters.datagrams_in));
      add(datagrams, with(l, "direction", "out"), static_cast<double>(b.counters.datagrams_out));
    }
    add(weight, l, b.weight);
    add(transitions, l, static_cast<double>(b.health.transitions));
  }

  void move_to(std::vector<MetricFamily>* out) {
    for (MetricFamily* f : {&up, &state, &active, &connections, &failures, &bytes_in, &bytes_out, &connect_latency,
                            &datagrams, &weight, &transitions}) {
      if (!f->metric.empty()) out->push_back(std::move(*f));
    }
  }
};

struct ServiceFamilies {
  MetricFamily active = family("nib_service_active_connections", "Open client connections of the service",
                               MetricType::Gauge);
  MetricFamily accepted = family("nib_service_accepted_connections_total", "Client connections accepted",
                                 MetricType::Counter);
  MetricFamily rejected = family("nib_service_rejected_connections_total",
                                 "Client connections closed without a backend, by reason", MetricType::Counter);
  MetricFamily abuse = family("nib_service_abuse_total",
                              "Clients the client ACL denied that the abuse server (-B) took (TCP connections, UDP "
                              "sessions); denied clients it did not take are rejected with reason acl",
                              MetricType::Counter);
  MetricFamily proxy_errors = family("nib_proxy_protocol_errors_total",
                                     "Clients from a trusted balancer (accept_proxy_protocol) closed for a missing, "
                                     "malformed or late PROXY header",
                                     MetricType::Counter);
  MetricFamily http_errors = family("nib_http_header_errors_total",
                                    "Clients of an HTTP service (-H) closed for a malformed request, or one a server "
                                    "could read differently (request smuggling)",
                                    MetricType::Counter);
  MetricFamily tls_handshakes = family("nib_tls_handshakes_total",
                                       "TLS handshakes of a TLS service's clients, by result (ok; failed: a protocol "
                                       "error, a refused client certificate, a client gone; timeout: not finished "
                                       "within the handshake timeout)",
                                       MetricType::Counter);
  MetricFamily backend_tls_handshakes = family("nib_backend_tls_handshakes_total",
                                               "TLS handshakes to backends (backend_tls), by result (ok; failed: the "
                                               "backend's certificate did not verify, a protocol error, none within "
                                               "the connect timeout)",
                                               MetricType::Counter);
  MetricFamily tls_latency = family("nib_tls_handshake_duration_seconds",
                                    "Accept to finished TLS handshake, successful handshakes", MetricType::Histogram);
  MetricFamily tls_expiry = family("nib_tls_certificate_expiry_timestamp_seconds",
                                   "When the soonest-expiring certificate a TLS service serves expires (Unix time)",
                                   MetricType::Gauge);
  MetricFamily limit_waits = family("nib_service_limit_waits_total",
                                    "Times accepting paused because the service held max_connections (-x); the "
                                    "clients waited in the backlog, none was refused",
                                    MetricType::Counter);
  MetricFamily pending_waits = family("nib_service_pending_waits_total",
                                      "Times accepting paused because pending_max clients of the service were "
                                      "still connecting to backends; the clients waited in the backlog",
                                      MetricType::Counter);
  MetricFamily idlers = family("nib_service_idlers",
                               "Pen's idlers: idle connections to the backends, by state (open now, wanted by "
                               "the policy); TCP services with idlers only",
                               MetricType::Gauge);
  MetricFamily breaks = family("nib_service_affinity_breaks_total",
                               "Returning clients whose remembered backend could not take them",
                               MetricType::Counter);
  MetricFamily table_size = family("nib_affinity_table_size", "Clients remembered in the affinity table",
                                   MetricType::Gauge);
  MetricFamily table_capacity = family("nib_affinity_table_capacity", "Slots of the affinity table",
                                       MetricType::Gauge);
  MetricFamily hits = family("nib_affinity_hits_total", "Lookups that found a remembered client",
                             MetricType::Counter);
  MetricFamily misses = family("nib_affinity_misses_total", "Lookups of unknown clients", MetricType::Counter);
  MetricFamily evictions = family("nib_affinity_evictions_total",
                                  "Clients pushed out of a full table (least recently used)", MetricType::Counter);
  MetricFamily expirations = family("nib_affinity_expirations_total", "Clients forgotten after the tracking time",
                                    MetricType::Counter);

  void add_service(const ServiceStatus& s) {
    Labels l{{"service", s.name}};
    add(active, l, static_cast<double>(s.active));
    add(accepted, l, static_cast<double>(s.counters.accepted));
    add(limit_waits, l, static_cast<double>(s.counters.limit_waits));
    add(pending_waits, l, static_cast<double>(s.counters.pending_waits));
    if (s.policy.idlers > 0 || s.idlers_open > 0) {
      add(idlers, with(l, "state", "open"), static_cast<double>(s.idlers_open));
      add(idlers, with(l, "state", "wanted"), static_cast<double>(s.policy.idlers));
    }
    add(rejected, with(l, "reason", "no_backend"), static_cast<double>(s.counters.rejected_no_backend));
    add(rejected, with(l, "reason", "stubborn"), static_cast<double>(s.counters.rejected_stubborn));
    add(rejected, with(l, "reason", "acl"), static_cast<double>(s.counters.rejected_acl));
    add(rejected, with(l, "reason", "resources"), static_cast<double>(s.counters.rejected_resources));
    add(abuse, l, static_cast<double>(s.counters.abuse));
    add(proxy_errors, l, static_cast<double>(s.counters.proxy_protocol_errors));
    if (s.http) add(http_errors, l, static_cast<double>(s.counters.http_header_errors));
    if (s.tls) {
      add(tls_handshakes, with(l, "result", "ok"), static_cast<double>(s.counters.tls_handshakes));
      add(tls_handshakes, with(l, "result", "failed"), static_cast<double>(s.counters.tls_handshake_failures));
      add(tls_handshakes, with(l, "result", "timeout"), static_cast<double>(s.counters.tls_handshake_timeouts));
      add(tls_latency, l, s.counters.tls_handshake_latency);
      add(tls_expiry, l, static_cast<double>(s.tls_not_after_unix));
    }
    if (s.backend_tls) {
      add(backend_tls_handshakes, with(l, "result", "ok"), static_cast<double>(s.counters.backend_tls_handshakes));
      add(backend_tls_handshakes, with(l, "result", "failed"),
          static_cast<double>(s.counters.backend_tls_handshake_failures));
    }
    add(breaks, l, static_cast<double>(s.counters.affinity_breaks));
    add(table_size, l, static_cast<double>(s.affinity.size));
    add(table_capacity, l, static_cast<double>(s.affinity.capacity));
    add(hits, l, static_cast<double>(s.affinity.hits));
    add(misses, l, static_cast<double>(s.affinity.misses));
    add(evictions, l, static_cast<double>(s.affinity.evictions));
    add(expirations, l, static_cast<double>(s.affinity.expirations));
  }

  void move_to(std::vector<MetricFamily>* out) {
    for (MetricFamily* f : {&active, &accepted, &rejected, &abuse, &proxy_errors, &http_errors, &tls_handshakes,
                            &backend_tls_handshakes,
                            &tls_latency, &tls_expiry, &limit_waits, &pending_waits, &idlers, &breaks, &table_size, &table_capacity, &hits, &misses, &evictions, &expirations}) {
      out->push_back(std::move(*f));
    }
  }
};

// UDP services only: sessions and datagrams, drops by reason.
struct UdpFamilies {
  MetricFamily sessions = family("nib_udp_sessions", "Open UDP sessions (client address:port to one upstream socket)",
                                 MetricType::Gauge);
  MetricFamily opened = family("nib_udp_sessions_opened_total", "UDP sessions opened (failovers included)",
                               MetricType::Counter);
  MetricFamily ended = family("nib_udp_sessions_ended_total",
                              "UDP sessions ended, by reason (expired: silent too long; evicted: at the limit)",
                              MetricType::Counter);
  MetricFamily refused = family("nib_udp_backend_refused_total", "ICMP unreachable answers from backends",
                                MetricType::Counter);
  MetricFamily datagrams = family("nib_udp_datagrams_total", "Datagrams relayed, by direction (in: to backends)",
                                  MetricType::Counter);
  MetricFamily bytes = family("nib_udp_bytes_total", "Datagram payload bytes relayed, by direction",
                              MetricType::Counter);
  MetricFamily drops = family("nib_udp_dropped_datagrams_total", "Datagrams dropped, by reason", MetricType::Counter);

  void add_service(const std::string& service, const UdpCounters& c) {
    Labels l{{"service", service}};
    auto n = [](uint64_t v) { return static_cast<double>(v); };
    add(sessions, l, n(c.sessions));
    add(opened, l, n(c.sessions_opened));
    add(ended, with(l, "reason", "expired"), n(c.sessions_expired));
    add(ended, with(l, "reason", "evicted"), n(c.sessions_evicted));
    add(refused, l, n(c.backend_refused));
    add(datagrams, with(l, "direction", "in"), n(c.datagrams_in));
    add(datagrams, with(l, "direction", "out"), n(c.datagrams_out));
    add(bytes, with(l, "direction", "in"), n(c.bytes_in));
    add(bytes, with(l, "direction", "out"), n(c.bytes_out));
    add(drops, with(l, "reason", "no_backend"), n(c.drops_no_backend));
    add(drops, with(l, "reason", "stubborn"), n(c.drops_stubborn));
    add(drops, with(l, "reason", "no_socket"), n(c.drops_no_socket));
    add(drops, with(l, "reason", "to_backend"), n(c.drops_to_backend));
    add(drops, with(l, "reason", "to_client"), n(c.drops_to_client));
    add(drops, with(l, "reason", "acl"), n(c.drops_acl));
  }

  void move_to(std::vector<MetricFamily>* out) {
    for (MetricFamily* f : {&sessions, &opened, &ended, &refused, &datagrams, &bytes, &drops}) {
      if (!f->metric.empty()) out->push_back(std::move(*f));  // no UDP service: no UDP families
    }
  }
};

// The process's own resources (dataplane/resource): budgets, use, shortages.
void add_resources(const ResourceStatus& r, std::vector<MetricFamily>* out) {
  MetricFamily exhausted = family("nib_resource_exhausted_total",
                                  "Times nib ran short of a resource of its own (never a backend's fault): fd, "
                                  "memory, pipe (a relay copied instead of splicing), port (no local port)",
                                  MetricType::Counter);
  for (Resource k : kAllResources) add(exhausted, {{"resource", to_string(k)}}, static_cast<double>(r.exhausted[k]));
  MetricFamily limit = family("nib_resource_limit", "What the dataplane may use: fd (descriptors for clients' "
                              "connections, pipes and UDP sessions), memory (bytes of relay buffers)",
                              MetricType::Gauge);
  add(limit, {{"resource", "fd"}}, static_cast<double>(r.fd_budget));
  add(limit, {{"resource", "memory"}}, static_cast<double>(r.relay_memory_limit));
  MetricFamily in_use = family("nib_resource_in_use", "What the dataplane uses of nib_resource_limit now",
                               MetricType::Gauge);
  add(in_use, {{"resource", "fd"}}, static_cast<double>(r.fd_in_use));
  add(in_use, {{"resource", "memory"}}, static_cast<double>(r.relay_memory_in_use));
  // relay: sockmap (issue 18): 0 when not asked for or fallen back to splice.
  MetricFamily kernel = family("nib_relay_kernel_active",
                               "1 when established TCP connections are relayed in the kernel (relay: sockmap), 0 "
                               "when relayed in user space (the default, or the sockmap was not permitted)",
                               MetricType::Gauge);
  add(kernel, {}, r.relay_kernel_active ? 1.0 : 0.0);
  MetricFamily kernel_total = family("nib_relay_kernel_connections_total",
                                     "TCP connections handed to the in-kernel relay (relay: sockmap)",
                                     MetricType::Counter);
  add(kernel_total, {}, static_cast<double>(r.relay_kernel_connections));
  for (MetricFamily* f : {&exhausted, &limit, &in_use, &kernel, &kernel_total}) out->push_back(std::move(*f));
}

// The access log (dataplane/log): lines written and lines lost. Only once
// there is one (counters stay after penctl's `no log`).
void add_access_log(const AccessLogStatus& log, std::vector<MetricFamily>* out) {
  if (log.destination.empty()) return;
  MetricFamily lines = family("nib_access_log_lines_total", "Access log lines written (one per finished connection)",
                              MetricType::Counter);
  add(lines, {}, static_cast<double>(log.lines));
  MetricFamily dropped = family("nib_access_log_dropped_total",
                                "Access log lines lost: a worker's ring was full (the writer fell behind; traffic "
                                "never waits for it) or a write failed",
                                MetricType::Counter);
  add(dropped, {}, static_cast<double>(log.dropped));
  out->push_back(std::move(lines));
  out->push_back(std::move(dropped));
}

// Direct server return (Pen's dsr_if): frames, not connections.
struct DsrFamilies {
  MetricFamily flows = family("nib_dsr_flows", "Open direct-server-return flows (client address:port on a backend)",
                              MetricType::Gauge);
  MetricFamily opened = family("nib_dsr_flows_opened_total", "Direct-server-return flows opened (failovers included)",
                               MetricType::Counter);
  MetricFamily frames = family("nib_dsr_frames_total", "Client frames forwarded to backends", MetricType::Counter);
  MetricFamily bytes = family("nib_dsr_bytes_total", "Bytes of client frames forwarded to backends",
                              MetricType::Counter);
  MetricFamily arp = family("nib_dsr_arp_replies_total", "ARP requests answered for the service (or tarpit) addresses",
                            MetricType::Counter);
  MetricFamily tarpitted = family("nib_dsr_tarpitted_total", "SYNs answered by the tarpit (tarpit_acl)",
                                  MetricType::Counter);
  MetricFamily drops = family("nib_dsr_dropped_frames_total",
                              "Client frames dropped, by reason (no_backend; unresolved: the backend's MAC "
                              "address not known yet; send: the interface refused the frame)",
                              MetricType::Counter);

  void add_service(const std::string& service, int64_t open, const DsrCounters& c) {
    Labels l{{"service", service}};
    auto n = [](uint64_t v) { return static_cast<double>(v); };
    add(flows, l, static_cast<double>(open));
    add(opened, l, n(c.flows_opened));
    add(frames, l, n(c.frames_forwarded));
    add(bytes, l, n(c.bytes_forwarded));
    add(arp, l, n(c.arp_replies));
    add(tarpitted, l, n(c.tarpitted));
    add(drops, with(l, "reason", "no_backend"), n(c.dropped_no_backend));
    add(drops, with(l, "reason", "unresolved"), n(c.dropped_unresolved));
    add(drops, with(l, "reason", "send"), n(c.dropped_send));
  }

  void move_to(std::vector<MetricFamily>* out) {
    for (MetricFamily* f : {&flows, &opened, &frames, &bytes, &arp, &tarpitted, &drops}) {
      if (!f->metric.empty()) out->push_back(std::move(*f));  // no DSR service: no DSR families
    }
  }
};

}  // namespace

MetricsCollector::MetricsCollector(const Dataplane& dataplane, const AdminPlaneStats* admin_stats,
                                   const DiscoveryStats* discovery, const AdminApi* core)
    : dataplane_(dataplane), admin_stats_(admin_stats), discovery_(discovery), core_(core) {}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  ServiceFamilies services;
  BackendFamilies backends;
  UdpFamilies udp;
  DsrFamilies dsr;
  for (const auto& s : dataplane_.status()) {
    services.add_service(s);
    if (s.udp) udp.add_service(s.name, s.udp->counters);
    if (s.dsr) dsr.add_service(s.name, s.active, *s.dsr);
    for (const auto& b : s.backends) backends.add_backend(s.name, s.protocol, b);
    if (s.emergency) backends.add_backend(s.name, s.protocol, *s.emergency);
  }
  std::vector<MetricFamily> out;
  MetricFamily info = family("nib_build_info", "Always 1; the version label says which nib runs", MetricType::Gauge);
  add(info, {{"version", NIB_VERSION}}, 1);
  out.push_back(std::move(info));
  services.move_to(&out);
  backends.move_to(&out);
  udp.move_to(&out);
  dsr.move_to(&out);
  add_resources(dataplane_.resources(), &out);
  add_access_log(dataplane_.access_log(), &out);
  collect_requests(&out);
  collect_admin_limits(&out);
  collect_discovery(&out);
  collect_registry(&out);
  return out;
}

void MetricsCollector::count_request(const std::string& route, const std::string& method, int code) {
  std::lock_guard lock(requests_mu_);
  ++requests_[{route, method, code}];
}

void MetricsCollector::collect_requests(std::vector<MetricFamily>* out) const {
  MetricFamily f = family("nib_admin_requests_total", "Admin HTTP requests answered, by route template and status",
                          MetricType::Counter);
  {
    std::lock_guard lock(requests_mu_);
    for (const auto& [key, count] : requests_) {
      const auto& [route, method, code] = key;
      add(f, {{"route", route}, {"method", method}, {"code", std::to_string(code)}}, static_cast<double>(count));
    }
  }
  out->push_back(std::move(f));
}

void MetricsCollector::collect_admin_limits(std::vector<MetricFamily>* out) const {
  if (admin_stats_ == nullptr) return;
  MetricFamily hits = family("nib_admin_limit_hits_total",
                             "Clients the admin plane turned away or cut off at one of its limits, by limit "
                             "(docs/operations.md, Admin plane limits)",
                             MetricType::Counter);
  for (const auto& row : admin_limit_table()) {
    if (row.counted) add(hits, {{"limit", std::string(row.key)}}, static_cast<double>(admin_stats_->hits(*row.counted)));
  }
  out->push_back(std::move(hits));
  for (size_t g = 0; g < static_cast<size_t>(AdminGauge::kCount); ++g) {
    AdminGaugeInfo info = AdminPlaneStats::info(static_cast<AdminGauge>(g));
    MetricFamily f = family(std::string(info.name), std::string(info.help), MetricType::Gauge);
    add(f, {}, static_cast<double>(admin_stats_->value(static_cast<AdminGauge>(g))));
    out->push_back(std::move(f));
  }
}

void MetricsCollector::collect_discovery(std::vector<MetricFamily>* out) const {
  if (discovery_ == nullptr) return;
  const DiscoveryStats::Snapshot s = discovery_->snapshot();
  if (s.lookups.empty() && s.backends.empty()) return;  // no backends_from
  MetricFamily lookups = family("nib_discovery_lookups_total",
                                "DNS lookups of a service's backends_from, by result (ok, nxdomain, nodata, "
                                "servfail, timeout, error); a failed one keeps the backends",
                                MetricType::Counter);
  for (const auto& [key, count] : s.lookups) {
    add(lookups, {{"service", key.first}, {"result", key.second}}, static_cast<double>(count));
  }
  out->push_back(std::move(lookups));
  MetricFamily backends = family("nib_discovery_backends",
                                 "Backends a service's backends_from found at its last good lookup", MetricType::Gauge);
  for (const auto& [service, count] : s.backends) add(backends, {{"service", service}}, static_cast<double>(count));
  out->push_back(std::move(backends));
}

void MetricsCollector::collect_registry(std::vector<MetricFamily>* out) const {
  if (core_ == nullptr) return;
  const std::optional<RegistryStatus> r = core_->registry_status();
  if (!r) return;  // no shared registry
  const Labels store{{"store", r->store}};
  auto gauge = [&](const char* name, const char* help, double value) {
    MetricFamily f = family(name, help, MetricType::Gauge);
    add(f, store, value);
    out->push_back(std::move(f));
  };
  auto counter = [&](const char* name, const char* help, uint64_t value) {
    MetricFamily f = family(name, help, MetricType::Counter);
    add(f, store, static_cast<double>(value));
    out->push_back(std::move(f));
  };
  gauge("nib_registry_connected",
        "1 while the shared registry's watch is up and etcd answers; 0: serving the last state read, changes refused",
        r->connected ? 1 : 0);
  gauge("nib_registry_applied_revision", "The shared registry's revision this replica runs",
        static_cast<double>(r->applied_revision));
  gauge("nib_registry_lag_revisions", "Revisions etcd reported that this replica has not applied yet",
        static_cast<double>(r->lag()));
  gauge("nib_registry_seconds_since_contact", "Seconds since etcd last answered (-1: never)", r->seconds_since_contact);
  counter("nib_registry_writes_total", "Changes this replica wrote to the shared registry", r->writes);
  counter("nib_registry_write_conflicts_total",
          "Writes retried on fresh values because another replica changed the object first", r->conflicts);
  counter("nib_registry_write_failures_total", "Changes refused because etcd could not be reached", r->write_failures);
  counter("nib_registry_resyncs_total", "Full reads of the registry (start, compacted history)", r->resyncs);
  counter("nib_registry_reconnects_total", "Watches opened again after the link failed", r->reconnects);
  counter("nib_registry_apply_errors_total", "Registry objects this replica could not apply (logged)", r->apply_errors);
}

std::string MetricsCollector::scrape() const {
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, Collect());
  return text.str();
}

}  // namespace nib::admin
