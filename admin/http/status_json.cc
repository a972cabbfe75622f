#include "admin/http/status_json.h"

#include <ctime>

namespace nib::admin {
namespace {

double seconds_since(MonoTime then, MonoTime now) {
  return now > then ? std::chrono::duration<double>(now - then).count() : 0.0;
}

json::Value affinity_json(const AffinityStats& a) {
  json::Value o = json::Value::object();
  o.set("size", a.size)
      .set("capacity", a.capacity)
      .set("hits", a.hits)
      .set("misses", a.misses)
      .set("evictions", a.evictions)
      .set("expirations", a.expirations);
  return o;
}

json::Value counters_json(const ServiceCounters& c) {
  json::Value o = json::Value::object();
  o.set("accepted", c.accepted)
      .set("rejected_max_connections", c.rejected_max_connections)
      .set("rejected_no_backend", c.rejected_no_backend)
      .set("rejected_stubborn", c.rejected_stubborn)
      .set("rejected_acl", c.rejected_acl)
      .set("affinity_breaks", c.affinity_breaks);
  return o;
}

json::Value udp_json(const UdpServiceStatus& u) {
  const UdpCounters& c = u.counters;
  json::Value drops = json::Value::object();
  drops.set("no_backend", c.drops_no_backend)
      .set("stubborn", c.drops_stubborn)
      .set("no_socket", c.drops_no_socket)
      .set("to_backend", c.drops_to_backend)
      .set("to_client", c.drops_to_client)
      .set("acl", c.drops_acl);
  json::Value o = json::Value::object();
  o.set("session_timeout_seconds", u.session_timeout_seconds)
      .set("max_sessions", u.max_sessions)
      .set("sessions", c.sessions)
      .set("sessions_opened", c.sessions_opened)
      .set("sessions_expired", c.sessions_expired)
      .set("sessions_evicted", c.sessions_evicted)
      .set("backend_refused", c.backend_refused)
      .set("datagrams_in", c.datagrams_in)
      .set("datagrams_out", c.datagrams_out)
      .set("bytes_in", c.bytes_in)
      .set("bytes_out", c.bytes_out)
      .set("drops", std::move(drops));
  return o;
}

// GCC 12 reports a false "maybe uninitialized" inside std::variant's move when
// the loops below are unrolled (GCC bug 107919); the code is plain.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
json::Value latency_json(const LatencyHistogram& h) {
  json::Value bounds = json::Value::array();
  for (double bound : kLatencyBoundsSeconds) bounds.push_back(bound);
  json::Value counts = json::Value::array();
  for (uint64_t n : h.buckets) counts.push_back(n);
  json::Value o = json::Value::object();
  o.set("upper_bounds_seconds", std::move(bounds))
      .set("counts", std::move(counts))
      .set("count", h.count)
      .set("sum_seconds", h.sum_seconds);
  return o;
}
#pragma GCC diagnostic pop

}  // namespace

json::Value to_json(const BackendStatus& b) {
  json::Value o = json::Value::object();
  o.set("id", b.id)
      .set("address", b.address.ip_string())
      .set("port", b.address.port())
      .set("host", b.host)
      .set("weight", b.weight)
      .set("prio", b.prio)
      .set("soft_limit", b.soft_limit)
      .set("hard_limit", b.hard_limit)
      .set("state", to_string(b.state))
      .set("admin_state", to_string(b.admin_state))
      .set("blacklisted", b.blacklisted)
      .set("blacklist_remaining_seconds", b.blacklist_remaining_seconds)
      .set("active_connections", b.active)
      .set("total_connections", b.counters.connections)
      .set("connect_failures", b.counters.connect_failures)
      .set("bytes_in", b.counters.bytes_in)
      .set("bytes_out", b.counters.bytes_out)
      .set("datagrams_in", b.counters.datagrams_in)
      .set("datagrams_out", b.counters.datagrams_out)
      .set("connect_latency", latency_json(b.counters.connect_latency))
      .set("remembered_clients", b.remembered_clients)
      .set("drain_finished", b.drain_finished)
      .set("index", b.index);
  // Active checks: why the state last changed, and the last check. Times are
  // Unix seconds; 0 = never.
  auto unix_seconds = [](std::chrono::system_clock::time_point t) {
    return t.time_since_epoch().count() == 0 ? 0.0 : std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  json::Value health = json::Value::object();
  health.set("checked", b.health.checked)
      .set("healthy", b.health.up)
      .set("reason", b.health.reason)
      .set("changed_unix", unix_seconds(b.health.changed))
      .set("last_check", b.health.last_check)
      .set("last_check_ok", b.health.last_check_ok)
      .set("last_check_ms", b.health.last_check_ms)
      .set("last_check_unix", unix_seconds(b.health.last_check_time))
      .set("transitions", b.health.transitions);
  o.set("health", std::move(health));
  return o;
}

json::Value to_json(const PolicyConfig& p) {
  json::Value o = json::Value::object();
  o.set("mode", to_string(p.mode))
      .set("stubborn", p.stubborn)
      .set("tracking_seconds", p.tracking_seconds)
      .set("blacklist_seconds", p.blacklist_seconds)
      .set("table_size", p.table_size);
  return o;
}

json::Value to_json(const ServiceStatus& s) {
  json::Value backends = json::Value::array();
  for (const auto& b : s.backends) backends.push_back(to_json(b));
  json::Value o = json::Value::object();
  o.set("name", s.name)
      .set("protocol", to_string(s.protocol))
      .set("listen", s.listen.to_string())
      .set("policy", to_json(s.policy))
      .set("connect_timeout_seconds", s.connect_timeout_seconds)
      .set("idle_timeout_seconds", s.idle_timeout_seconds)
      .set("max_connections", s.max_connections)
      .set("active_connections", s.active)
      .set("counters", counters_json(s.counters))
      .set("affinity", affinity_json(s.affinity))
      .set("backends", std::move(backends))
      .set("emergency", s.emergency ? to_json(*s.emergency) : json::Value())
      .set("udp", s.udp ? udp_json(*s.udp) : json::Value());  // null for TCP services
  return o;
}

json::Value to_json(const AffinityEntry& e, MonoTime now) {
  json::Value o = json::Value::object();
  o.set("ip", e.client.to_string())
      .set("backend_id", e.backend_id)
      .set("connects", e.connects)
      .set("bytes_in", e.bytes_in)
      .set("bytes_out", e.bytes_out)
      .set("first_seen_seconds_ago", seconds_since(e.first_seen, now))
      .set("last_seen_seconds_ago", seconds_since(e.last_seen, now));
  return o;
}

json::Value to_json(const ClientPin& p) {
  json::Value o = json::Value::object();
  o.set("prefix", p.prefix.to_string()).set("backend_id", p.backend_id);
  return o;
}

json::Value to_json(const DataplaneEvent& e) {
  json::Value o = json::Value::object();
  o.set("sequence", e.sequence)
      .set("time", rfc3339(e.time))
      .set("kind", to_string(e.kind))
      .set("service", e.service)
      .set("backend_id", e.backend_id)
      .set("detail", e.detail);
  return o;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace nib::admin
