#include "server/nibctl/output.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "admin/http/v1_json.h"

namespace nib::nibctl {

namespace v1 = admin::v1;

void Table::print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string to_json(const google::protobuf::Message& message, bool compact) {
  json::Value v = admin::v1_json(message);
  if (compact) return json::serialize(v);
  std::string text = json::serialize_pretty(v);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string human_bytes(uint64_t bytes) {
  constexpr const char* kUnits[] = {"", "K", "M", "G", "T", "P"};
  if (bytes < 1024) return std::to_string(bytes);
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%s", value, kUnits[unit]);
  return buf;
}

// The enum's name without its prefix, lower case: BACKEND_STATE_UP -> "up".
std::string enum_word(const std::string& name, const std::string& prefix) {
  std::string word = name.starts_with(prefix) ? name.substr(prefix.size()) : name;
  std::transform(word.begin(), word.end(), word.begin(), [](unsigned char c) { return std::tolower(c); });
  return word;
}

std::string state_name(v1::BackendState state) { return enum_word(v1::BackendState_Name(state), "BACKEND_STATE_"); }

std::string state_name(const v1::Backend& b) {
  std::string name = state_name(b.state());
  if (b.state() == v1::BACKEND_STATE_DRAINING && b.drain_finished()) name += " (done)";
  return name;
}

std::string mode_name(v1::BalanceMode mode) { return enum_word(v1::BalanceMode_Name(mode), "BALANCE_MODE_"); }
std::string event_name(v1::EventType type) { return enum_word(v1::EventType_Name(type), "EVENT_TYPE_"); }

std::string host_port(const std::string& ip, uint32_t port) {
  bool v6 = ip.find(':') != std::string::npos;
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s >= 10 || s == static_cast<int64_t>(s) ? "%.0fs" : "%.1fs", s);
  return buf;
}

void print_backends(std::ostream& out, const std::vector<const v1::Backend*>& backends) {
  Table t({"ID", "ADDRESS", "STATE", "WEIGHT", "PRIO", "SOFT", "HARD", "ACTIVE", "TOTAL", "FAILED", "CLIENTS",
           "IN", "OUT"});
  for (const v1::Backend* b : backends) {
    t.add({std::to_string(b->id()), host_port(b->address(), b->port()), state_name(*b), std::to_string(b->weight()),
           std::to_string(b->prio()), std::to_string(b->soft_limit()), std::to_string(b->hard_limit()),
           std::to_string(b->active_connections()), std::to_string(b->total_connections()),
           std::to_string(b->connect_failures()), std::to_string(b->remembered_clients()),
           human_bytes(b->bytes_in()), human_bytes(b->bytes_out())});
  }
  t.print(out);
  for (const v1::Backend* b : backends) {
    if (!b->state_reason().empty()) out << "backend " << b->id() << ": " << b->state_reason() << "\n";
    if (b->proxy_protocol() != v1::PROXY_PROTOCOL_SERVICE) {
      out << "backend " << b->id() << ": proxy_protocol "
          << enum_word(v1::ProxyProtocol_Name(b->proxy_protocol()), "PROXY_PROTOCOL_") << " (its own)\n";
    }
    if (b->tcp_fast_open()) out << "backend " << b->id() << ": tcp_fast_open on\n";
  }
}

void print_services(std::ostream& out, const v1::ListServicesResponse& services) {
  Table t({"NAME", "PROTOCOL", "LISTEN", "MODE", "BACKENDS", "ACTIVE"});
  for (const auto& s : services.services()) {
    t.add({s.name(), enum_word(v1::Protocol_Name(s.protocol()), "PROTOCOL_"), s.listen(),
           mode_name(s.policy().mode()), std::to_string(s.backend_count()), std::to_string(s.active_connections())});
  }
  t.print(out);
}

void print_clients(std::ostream& out, const std::vector<v1::Client>& clients) {
  Table t({"CLIENT", "BACKEND", "CONNECTS", "LAST SEEN", "IN", "OUT", "PINNED"});
  for (const auto& c : clients) {
    t.add({c.address(), std::to_string(c.backend_id()), std::to_string(c.connects()),
           seconds_text(c.last_seen_seconds_ago()) + " ago", human_bytes(c.bytes_in()), human_bytes(c.bytes_out()),
           c.pinned() ? "yes" : ""});
  }
  t.print(out);
}

void print_stats(std::ostream& out, const v1::Stats& s) {
  const v1::AffinityStats& a = s.affinity();
  char fill[32];
  std::snprintf(fill, sizeof fill, "%.1f%%", a.fill_ratio() * 100);
  out << "service " << s.service() << ": " << s.active_connections() << " open, " << s.accepted() << " accepted; "
      << s.limit_waits() << " waits at max connections, " << s.pending_waits() << " at pending max; rejected: " << s.rejected_no_backend()
      << " no backend, " << s.rejected_stubborn() << " stubborn, " << s.rejected_acl() << " acl; " << s.abuse()
      << " to the abuse server; " << s.affinity_breaks() << " affinity breaks\n";
  out << "client table: " << a.size() << "/" << a.capacity() << " (" << fill << "), " << a.hits() << " hits, "
      << a.misses() << " misses, " << a.evictions() << " evictions, " << a.expirations() << " expirations\n\n";
  Table t({"ID", "ADDRESS", "STATE", "ACTIVE", "TOTAL", "FAILED", "IN", "OUT"});
  auto row = [&](const v1::BackendStats& b, const std::string& id) {
    t.add({id, b.address(), state_name(b.state()), std::to_string(b.active_connections()),
           std::to_string(b.total_connections()), std::to_string(b.connect_failures()), human_bytes(b.bytes_in()),
           human_bytes(b.bytes_out())});
  };
  for (const auto& b : s.backends()) row(b, std::to_string(b.id()));
  if (s.has_emergency()) row(s.emergency(), "emergency");
  t.print(out);
}

void print_policy(std::ostream& out, const v1::Policy& p) {
  out << "mode        " << mode_name(p.mode()) << "\n"
      << "stubborn    " << (p.stubborn() ? "yes" : "no") << "\n"
      << "consistent  " << (p.consistent() ? "yes" : "no") << "\n"
      << "tracking    " << (p.tracking_seconds() == 0 ? "never expires" : seconds_text(p.tracking_seconds())) << "\n"
      << "blacklist   " << seconds_text(p.blacklist_seconds()) << "\n"
      << "table size  " << p.table_size() << "\n"
      << "connect timeout  " << seconds_text(p.connect_timeout_seconds()) << "\n"
      << "idle timeout     " << (p.idle_timeout_seconds() == 0 ? "never" : seconds_text(p.idle_timeout_seconds()))
      << "\n"
      << "max connections  " << (p.max_connections() == 0 ? "as many as descriptors allow"
                                                           : std::to_string(p.max_connections()))
      << "\n"
      << "pending max      " << (p.pending_max() == 0 ? "no limit" : std::to_string(p.pending_max())) << "\n"
      << "idlers           " << (p.idlers() == 0 ? "none" : std::to_string(p.idlers())) << "\n";
}

void print_tls(std::ostream& out, const v1::TlsSettings& t) {
  auto or_none = [](const std::string& v, const char* none) { return v.empty() ? std::string(none) : v; };
  std::string alpn;
  for (const auto& name : t.alpn()) alpn += (alpn.empty() ? "" : ",") + name;
  char expires[32] = "unknown";
  const time_t when = static_cast<time_t>(t.not_after_unix());
  struct tm utc {};
  if (t.not_after_unix() != 0 && ::gmtime_r(&when, &utc) != nullptr) {
    std::strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &utc);
  }
  out << "certificate      " << t.cert_file() << "\n"
      << "key              " << or_none(t.key_file(), "in the certificate's file") << "\n"
      << "expires          " << expires << "\n"
      << "client CAs       " << or_none(t.ca_file(), "none") << (t.ca_dir().empty() ? "" : " + " + t.ca_dir()) << "\n"
      << "client auth      " << t.client_auth() << "\n"
      << "sni path         " << or_none(t.sni_path(), "none") << "\n"
      << "min version      " << t.min_version() << "\n"
      << "ciphers          " << or_none(t.ciphers(), "OpenSSL's") << (t.prefer_server_ciphers() ? " (nib's order)" : "")
      << "\n"
      << "alpn             " << or_none(alpn, "off") << "\n"
      << "ocsp response    " << or_none(t.ocsp_response_file(), "none") << "\n"
      << "handshake timeout " << seconds_text(t.handshake_timeout_seconds()) << "\n";
}

void print_registry(std::ostream& out, const v1::Registry& r) {
  if (r.store() != "etcd") {
    out << "store            " << r.store()
        << (r.store() == "state_file" ? " (this nib's --state)" : " (changes are not kept across a restart)") << "\n";
    return;
  }
  std::string endpoints;
  for (const auto& e : r.endpoints()) endpoints += (endpoints.empty() ? "" : ",") + e;
  out << "store            etcd " << endpoints << "\n"
      << "prefix           " << r.prefix() << "\n"
      << "link             " << (r.connected() ? "connected to " + r.endpoint() : "DOWN: " + r.last_error()) << "\n"
      << "revision         " << r.applied_revision() << " applied, " << r.known_revision() << " known (lag "
      << r.lag_revisions() << ")\n"
      << "last contact     "
      << (r.seconds_since_contact() < 0 ? std::string("never") : seconds_text(r.seconds_since_contact()) + " ago") << "\n"
      << "writes           " << r.writes() << " (" << r.conflicts() << " retried after a conflict, "
      << r.write_failures() << " refused)\n"
      << "resyncs          " << r.resyncs() << ", reconnects " << r.reconnects() << ", apply errors "
      << r.apply_errors() << "\n";
}

void print_acl(std::ostream& out, const v1::ClientAcl& acl) {
  if (acl.entries().empty()) {
    out << "no entries: every client is served\n";
    return;
  }
  Table t({"#", "ENTRY"});
  for (int i = 0; i < acl.entries_size(); ++i) t.add({std::to_string(i + 1), acl.entries(i)});
  t.print(out);
  // Pen's rule for a client no entry matches: the opposite of the last entry.
  const bool last_permits = acl.entries(acl.entries_size() - 1).rfind("permit", 0) == 0;
  out << "no match: " << (last_permits ? "denied" : "served") << "\n";
}

void print_pins(std::ostream& out, const v1::ListPinsResponse& pins) {
  Table t({"PREFIX", "BACKEND"});
  for (const auto& p : pins.pins()) t.add({p.prefix(), std::to_string(p.backend_id())});
  t.print(out);
}

void print_event(std::ostream& out, const v1::Event& e) {
  std::time_t t = e.time().seconds();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  out << when << "  " << event_name(e.type());
  if (!e.service().empty()) out << "  " << e.service();
  if (e.backend_id() != 0) out << "  backend " << e.backend_id();
  if (!e.detail().empty()) out << "  " << e.detail();
  out << std::endl;  // flushed: a watcher reads line by line
}

}  // namespace nib::nibctl
