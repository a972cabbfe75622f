#include "dataplane/log/access_line_format.h"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <ctime>

namespace nib {

const char* to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::kClientClosed: return "client_closed";
    case CloseReason::kBackendClosed: return "backend_closed";
    case CloseReason::kClientReset: return "client_reset";
    case CloseReason::kBackendReset: return "backend_reset";
    case CloseReason::kIdle: return "idle";
    case CloseReason::kDrained: return "drained";
    case CloseReason::kAcl: return "acl";
    case CloseReason::kNoBackend: return "no_backend";
    case CloseReason::kShortage: return "shortage";
    case CloseReason::kLimit: return "limit";
    case CloseReason::kShutdown: return "shutdown";
    case CloseReason::kProxyHeader: return "proxy_header";
    case CloseReason::kTlsHandshake: return "tls_handshake";
    case CloseReason::kOperator: return "operator";
    case CloseReason::kBadRequest: return "bad_request";
  }
  return "?";
}

namespace {

using Field = AccessLineFormat::Field;

struct FieldName {
  std::string_view name;
  Field field;
};

constexpr std::array<FieldName, 18> kFields = {{
    {"time", Field::kTime},           {"unix", Field::kUnix},
    {"service", Field::kService},     {"client", Field::kClient},
    {"client_ip", Field::kClientIp},  {"client_port", Field::kClientPort},
    {"backend", Field::kBackend},     {"backend_ip", Field::kBackendIp},
    {"backend_port", Field::kBackendPort}, {"bytes_in", Field::kBytesIn},
    {"bytes_out", Field::kBytesOut},  {"duration_ms", Field::kDurationMs},
    {"connect_ms", Field::kConnectMs}, {"reason", Field::kReason},
    {"failovers", Field::kFailovers}, {"request", Field::kRequest},
    {"protocol", Field::kProtocol},   {"backend_source_port", Field::kBackendSourcePort},
}};

// Pen's two line shapes, as templates: one formatter for all three formats.
constexpr std::string_view kPenFile = "{client_ip} {unix} {backend_ip} {request}";
constexpr std::string_view kPenUdp = "+ {client_ip} {backend_ip} {request}";

void append_number(std::string& out, int64_t v) {
  char buf[24];
  int n = std::snprintf(buf, sizeof buf, "%" PRId64, v);
  out.append(buf, static_cast<size_t>(n));
}

// Milliseconds with three decimals: "12.345".
void append_ms(std::string& out, int64_t us) {
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64, us / 1000, us % 1000);
  out.append(buf, static_cast<size_t>(n));
}

// ISO 8601 UTC with milliseconds: "2026-12-04T05:30:45.123Z".
void append_time(std::string& out, int64_t unix_ns) {
  std::time_t secs = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  n += static_cast<size_t>(std::snprintf(buf + n, sizeof buf - n, ".%03dZ",
                                         static_cast<int>((unix_ns / 1000000) % 1000)));
  out.append(buf, n);
}

// A client's bytes go into a line: every byte outside printable ASCII becomes
// '.', so no client can forge a line break or a terminal escape in the log.
void append_printable(std::string& out, const char* p, size_t n, bool json) {
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c >= 0x7f) {
      out.push_back('.');
    } else if (json && (c == '"' || c == '\\')) {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
}

void append_ip(std::string& out, const SocketAddress& a) {
  if (a.valid()) {
    out += a.ip_string();
  } else {
    out.push_back('-');
  }
}

void append_field(std::string& out, const AccessRecord& r, Field f, bool json) {
  switch (f) {
    case Field::kTime: return append_time(out, r.unix_ns);
    case Field::kUnix: return append_number(out, r.unix_ns / 1000000000);
    case Field::kService:
      // Service names are checked at configuration ([A-Za-z0-9_.-]): no escaping needed.
      if (r.service) out += *r.service;
      return;
    case Field::kClient: out += r.client.to_string(); return;
    case Field::kClientIp: return append_ip(out, r.client);
    case Field::kClientPort: return append_number(out, r.client.port());
    case Field::kBackend:
      if (r.backend.valid()) {
        out += r.backend.to_string();
      } else {
        out.push_back('-');
      }
      return;
    case Field::kBackendIp: return append_ip(out, r.backend);
    case Field::kBackendPort: return append_number(out, r.backend.valid() ? r.backend.port() : 0);
    case Field::kBytesIn: return append_number(out, static_cast<int64_t>(r.bytes_in));
    case Field::kBytesOut: return append_number(out, static_cast<int64_t>(r.bytes_out));
    case Field::kDurationMs: return append_ms(out, r.duration_us);
    case Field::kConnectMs:
      if (r.connect_us < 0) {
        out.push_back('-');
      } else {
        append_ms(out, r.connect_us);
      }
      return;
    case Field::kReason: out += to_string(r.reason); return;
    case Field::kFailovers: return append_number(out, r.failovers);
    case Field::kRequest:
      if (r.request_len == 0 && !json) {
        out.push_back('-');
      } else {
        append_printable(out, r.request, r.request_len, json);
      }
      return;
    case Field::kProtocol: out += to_string(r.protocol); return;
    case Field::kBackendSourcePort:
      if (r.backend_source_port == 0 && !json) {
        out.push_back('-');
      } else {
        append_number(out, r.backend_source_port);
      }
      return;
  }
}

}  // namespace

Result<AccessLineFormat> AccessLineFormat::make(AccessLogFormat format, std::string_view template_text, bool udp) {
  AccessLineFormat f;
  if (format == AccessLogFormat::kJson) {
    f.json_ = true;
    return f;
  }
  std::string_view text = format == AccessLogFormat::kPen ? (udp ? kPenUdp : kPenFile) : template_text;
  if (text.empty()) return Status::invalid("access_log: format template needs a template, e.g. \"{client} {backend}\"");
  Part part;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '{') {
      part.literal.push_back(text[i++]);
      continue;
    }
    size_t close = text.find('}', i);
    if (close == std::string_view::npos) {
      return Status::invalid("access_log: template: '{' at column " + std::to_string(i + 1) + " is never closed");
    }
    std::string_view name = text.substr(i + 1, close - i - 1);
    const FieldName* found = nullptr;
    for (const auto& fn : kFields) {
      if (fn.name == name) found = &fn;
    }
    if (!found) {
      std::string known;
      for (const auto& fn : kFields) known += (known.empty() ? "" : ", ") + std::string(fn.name);
      return Status::invalid("access_log: template: unknown placeholder {" + std::string(name) + "}; expected one of " +
                             known);
    }
    part.has_field = true;
    part.field = found->field;
    f.parts_.push_back(std::move(part));
    part = Part{};
    i = close + 1;
  }
  if (!part.literal.empty()) f.parts_.push_back(std::move(part));
  return f;
}

void AccessLineFormat::append(const AccessRecord& r, std::string& out) const {
  if (json_) {
    // Every key always present (null where unknown): log collectors like a fixed schema.
    out += "{\"time\":\"";
    append_time(out, r.unix_ns);
    out += "\",\"service\":\"";
    append_field(out, r, Field::kService, true);
    out += "\",\"protocol\":\"";
    out += to_string(r.protocol);
    out += "\",\"client\":\"";
    out += r.client.to_string();
    out += "\",\"backend\":";
    if (r.backend.valid()) {
      out += "\"" + r.backend.to_string() + "\"";
    } else {
      out += "null";
    }
    out += ",\"backend_source_port\":";
    if (r.backend_source_port == 0) {
      out += "null";
    } else {
      append_number(out, r.backend_source_port);
    }
    out += ",\"bytes_in\":";
    append_number(out, static_cast<int64_t>(r.bytes_in));
    out += ",\"bytes_out\":";
    append_number(out, static_cast<int64_t>(r.bytes_out));
    out += ",\"duration_ms\":";
    append_ms(out, r.duration_us);
    out += ",\"connect_ms\":";
    if (r.connect_us < 0) {
      out += "null";
    } else {
      append_ms(out, r.connect_us);
    }
    out += ",\"reason\":\"";
    out += to_string(r.reason);
    out += "\",\"failovers\":";
    append_number(out, r.failovers);
    out += ",\"request\":\"";
    append_printable(out, r.request, r.request_len, true);
    out += "\"}\n";
    return;
  }
  for (const Part& p : parts_) {
    out += p.literal;
    if (p.has_field) append_field(out, r, p.field, false);
  }
  out.push_back('\n');
}

}  // namespace nib
