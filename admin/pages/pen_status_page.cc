#include "admin/pages/pen_status_page.h"

#include "admin/pages/page_files.h"

#include <cstdio>
#include <string_view>
#include <unordered_map>

namespace nib {
namespace {

std::string cell(const std::string& text) { return "<td>" + html_escape(text) + "</td>"; }
std::string cell(uint64_t v) { return "<td>" + std::to_string(v) + "</td>"; }
std::string cell_i(int64_t v) { return "<td>" + std::to_string(v) + "</td>"; }

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

std::string limit_text(uint32_t v) { return v == 0 ? "unlimited" : std::to_string(v); }

std::string backend_state(const BackendStatus& b) {
  if (b.admin_state != AdminState::kEnabled) return to_string(b.admin_state);
  if (b.blacklisted) return "blacklisted (" + seconds_text(b.blacklist_remaining_seconds) + " s)";
  if (b.state == BackendState::kDown) return "down (" + b.health.reason + ")";  // active check
  return b.health.checked ? "up (" + b.health.last_check + ")" : "up";
}

void servers_table(std::string& out, const ServiceStatus& s) {
  out += "<h2>Servers of " + html_escape(s.name) + " (" + html_escape(s.listen_text()) + ", mode " +
         to_string(s.policy.mode) + (initial_choice(s.policy) != s.policy.mode ? ", consistent" : "") + (s.policy.stubborn ? ", stubborn" : "") + ")</h2>\n";
  out += "<table class=\"servers\">\n<tr><th>#</th><th>Address</th><th>Status</th><th>Port</th>"
         "<th>Connections</th><th>Max soft</th><th>Max hard</th><th>Sent</th><th>Received</th>"
         "<th>Weight</th><th>Prio</th></tr>\n";
  auto row = [&](const BackendStatus& b, const std::string& label) {
    out += "<tr>" + cell(label) + cell(b.host == b.address.ip_string() ? b.address.ip_string()
                                                                        : b.host + " (" + b.address.ip_string() + ")") +
           cell(backend_state(b)) + cell(uint64_t{b.address.port()}) + cell_i(b.active) +
           cell(limit_text(b.soft_limit)) + cell(limit_text(b.hard_limit)) + cell(b.counters.bytes_in) +
           cell(b.counters.bytes_out) + cell(uint64_t{b.weight}) + cell(uint64_t{b.prio}) + "</tr>\n";
  };
  for (const auto& b : s.backends) row(b, std::to_string(b.index));
  if (s.emergency) row(*s.emergency, "emergency");
  if (s.abuse) row(*s.abuse, "abuse");
  out += "</table>\n";
}

void clients_table(std::string& out, const ServiceStatus& s, const std::vector<AffinityEntry>& clients,
                   MonoTime now) {
  std::unordered_map<uint32_t, const BackendStatus*> by_id;
  for (const auto& b : s.backends) by_id[b.id] = &b;
  out += "<h2>Active clients of " + html_escape(s.name) + " (" + std::to_string(s.affinity.size) + " of " +
         std::to_string(s.affinity.capacity) + " slots)</h2>\n";
  out += "<table class=\"clients\">\n<tr><th>Address</th><th>Age (s)</th><th>Last server</th>"
         "<th>Connects</th><th>Sent</th><th>Received</th></tr>\n";
  for (const auto& c : clients) {
    auto it = by_id.find(c.backend_id);
    std::string server = it == by_id.end() ? "(removed)" : std::to_string(it->second->index) + " (" +
                                                               it->second->address.to_string() + ")";
    out += "<tr>" + cell(c.client.to_string()) +
           cell(seconds_text(std::chrono::duration<double>(now - c.last_seen).count())) + cell(server) +
           cell(uint64_t{c.connects}) + cell(c.bytes_in) + cell(c.bytes_out) + "</tr>\n";
  }
  out += "</table>\n";
}

void connections_table(std::string& out, const std::vector<ConnectionInfo>& connections) {
  out += "<h2>Active connections (" + std::to_string(connections.size()) + ")</h2>\n";
  out += "<table class=\"connections\">\n<tr><th>#</th><th>Service</th><th>Client</th><th>Server</th>"
         "<th>State</th><th>Age (s)</th><th>Sent</th><th>Received</th></tr>\n";
  // "#" is the number penctl's "connection N" and "close N" take (UDP sessions have none).
  for (const auto& c : connections) {
    out += "<tr>" + cell(c.id != 0 ? std::to_string(c.id) : std::string("-")) + cell(c.service) + cell(c.client.to_string()) +
           cell(c.backend.valid() ? c.backend.to_string() : "-") + cell(c.connecting ? "connecting" : "open") +
           cell(seconds_text(c.age_seconds)) + cell(c.bytes_in) + cell(c.bytes_out) + "</tr>\n";
  }
  out += "</table>\n";
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string render_pen_status_page(const PenStatusInput& in) {
  std::string_view css = pages::pen_status_page_css;  // one line (pen_status_page.css); its newline dropped
  if (css.ends_with('\n')) css.remove_suffix(1);
  std::string out = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>nib status</title>\n<style>";
  out += css;
  out += "</style>\n</head><body>\n<h1>nib status</h1>\n<p>Generated " + html_escape(in.generated_at) + "</p>\n";
  for (size_t i = 0; i < in.services.size(); ++i) {
    servers_table(out, in.services[i]);
    static const std::vector<AffinityEntry> kNone;
    clients_table(out, in.services[i], i < in.clients.size() ? in.clients[i] : kNone, in.now);
  }
  connections_table(out, in.connections);
  out += "</body></html>\n";
  return out;
}

}  // namespace nib
