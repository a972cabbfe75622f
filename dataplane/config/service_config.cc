#include "dataplane/config/service_config.h"

#include <set>

#include "dataplane/config/limits.h"
#include "dataplane/config/stored_text.h"

namespace nib {

const char* to_string(BalanceMode mode) {
  switch (mode) {
    case BalanceMode::kAffinity: return "affinity";
    case BalanceMode::kRoundRobin: return "roundrobin";
    case BalanceMode::kHash: return "hash";
    case BalanceMode::kWeight: return "weight";
    case BalanceMode::kPrio: return "prio";
    case BalanceMode::kMaglev: return "maglev";
  }
  return "?";
}

BalanceMode initial_choice(const PolicyConfig& policy) {
  return policy.mode == BalanceMode::kAffinity && policy.consistent ? BalanceMode::kMaglev : policy.mode;
}

const char* to_string(Protocol protocol) { return protocol == Protocol::kTcp ? "tcp" : "udp"; }

const char* to_string(FastClose mode) {
  switch (mode) {
    case FastClose::kOff: return "off";
    case FastClose::kUp: return "up";
    case FastClose::kDown: return "down";
    case FastClose::kBoth: return "both";
  }
  return "?";
}

std::optional<RelayMode> parse_relay_mode(std::string_view word) {
  if (word == "splice") return RelayMode::kSplice;
  if (word == "sockmap") return RelayMode::kSockmap;
  return std::nullopt;
}

std::optional<FastClose> parse_fast_close(std::string_view word) {
  for (FastClose m : {FastClose::kOff, FastClose::kUp, FastClose::kDown, FastClose::kBoth}) {
    if (word == to_string(m)) return m;
  }
  return std::nullopt;
}

const char* to_string(AccessLogFormat format) {
  switch (format) {
    case AccessLogFormat::kPen: return "pen";
    case AccessLogFormat::kJson: return "json";
    case AccessLogFormat::kTemplate: return "template";
  }
  return "?";
}

std::optional<BalanceMode> parse_balance_mode(std::string_view text) {
  for (auto m : {BalanceMode::kAffinity, BalanceMode::kRoundRobin, BalanceMode::kHash,
                 BalanceMode::kWeight, BalanceMode::kPrio, BalanceMode::kMaglev}) {
    if (text == to_string(m)) return m;
  }
  return std::nullopt;
}

const char* to_string(TlsClientAuth auth) {
  switch (auth) {
    case TlsClientAuth::kOff: return "off";
    case TlsClientAuth::kOptional: return "optional";
    case TlsClientAuth::kRequired: return "required";
  }
  return "?";
}

std::optional<TlsClientAuth> parse_tls_client_auth(std::string_view text) {
  for (auto a : {TlsClientAuth::kOff, TlsClientAuth::kOptional, TlsClientAuth::kRequired}) {
    if (text == to_string(a)) return a;
  }
  return std::nullopt;
}

const char* to_string(HealthCheckType type) {
  switch (type) {
    case HealthCheckType::kTcp: return "tcp";
    case HealthCheckType::kHttp: return "http";
    case HealthCheckType::kSendExpect: return "send-expect";
    case HealthCheckType::kUdp: return "udp";
  }
  return "?";
}

Status check(const HealthCheckConfig& c) {
  auto secs = [](double s) { return std::to_string(s); };
  if (!(c.interval_seconds > 0) || c.interval_seconds > 86400) {
    return Status::invalid("interval must be > 0 and <= 86400 seconds, got " + secs(c.interval_seconds));
  }
  if (!(c.timeout_seconds > 0)) return Status::invalid("timeout must be > 0 seconds, got " + secs(c.timeout_seconds));
  if (c.timeout_seconds >= c.interval_seconds) {
    return Status::invalid("timeout (" + secs(c.timeout_seconds) + " s) must be less than interval (" +
                           secs(c.interval_seconds) + " s)");
  }
  if (c.rise < 1 || c.rise > 1000) return Status::invalid("rise must be 1-1000, got " + std::to_string(c.rise));
  if (c.fall < 1 || c.fall > 1000) return Status::invalid("fall must be 1-1000, got " + std::to_string(c.fall));
  if (!(c.jitter >= 0 && c.jitter <= 0.5)) return Status::invalid("jitter must be 0-0.5, got " + std::to_string(c.jitter));
  if (c.type == HealthCheckType::kSendExpect && c.expect.empty()) {
    return Status::invalid("expect must not be empty for a send-expect check");
  }
  if (c.type == HealthCheckType::kUdp && c.expect_regex && c.expect.empty()) {
    return Status::invalid("expect_regex needs a non-empty expect");
  }
  if (c.type == HealthCheckType::kSendExpect || c.type == HealthCheckType::kUdp) {
    if (c.expect_regex) {
      if (auto re = compile_expect_regex(c.expect); !re.ok()) {
        return Status::invalid("expect is not a valid regex: " + re.status().message());
      }
    }
  }
  if (c.type == HealthCheckType::kHttp) {
    for (Status st : {check_text("method", c.method, limits::kHttpCheckFieldBytes),
                      check_text("path", c.path, limits::kHttpCheckFieldBytes), check_host("host", c.host_header)}) {
      if (!st.ok()) return st;
    }
    if (c.method.empty() || c.method.find_first_of(" \r\n") != std::string::npos) {
      return Status::invalid("method must be one token such as GET or HEAD, got '" + c.method + "'");
    }
    if (c.path.empty() || c.path[0] != '/' || c.path.find_first_of(" \r\n") != std::string::npos) {
      return Status::invalid("path must start with '/' and hold no spaces, got '" + c.path + "'");
    }
    if (c.status_min < 100 || c.status_max > 599 || c.status_min > c.status_max) {
      return Status::invalid("expected status must be a code or range within 100-599, got " +
                             std::to_string(c.status_min) + "-" + std::to_string(c.status_max));
    }
  }
  return {};
}

Result<LinearRegex> compile_expect_regex(std::string_view pattern) {
  return LinearRegex::compile(pattern, {.max_pattern_bytes = limits::kMaxRegexPatternBytes,
                                        .max_instructions = limits::kMaxRegexInstructions,
                                        .max_depth = limits::kMaxRegexNesting,
                                        .max_repeat = limits::kMaxRegexRepeat});
}

Status check_for(const HealthCheckConfig& c, Protocol protocol) {
  if (Status st = check_type(c.type, protocol); !st.ok()) return st;
  return check(c);
}

Status check_type(HealthCheckType type, Protocol protocol) {
  if (protocol == Protocol::kUdp && type != HealthCheckType::kUdp) {
    return Status::invalid(std::string(type == HealthCheckType::kHttp ? "an " : "a ") + to_string(type) +
                           " check connects over TCP; a udp service takes type: udp checks");
  }
  if (protocol == Protocol::kTcp && type == HealthCheckType::kUdp) {
    return Status::invalid("type: udp checks apply to udp services only (protocol: udp)");
  }
  return {};
}

Status check_proxy_protocol(Protocol protocol, std::optional<ProxyProtocol> version) {
  if (protocol == Protocol::kUdp && version == ProxyProtocol::kV1) {
    return Status::invalid("PROXY protocol v1 has no UDP form; a UDP service sends v2");
  }
  return {};
}

Status check_tcp_fast_open(Protocol protocol, bool on) {
  if (on && protocol != Protocol::kTcp) return Status::invalid("tcp_fast_open is for TCP services only");
  return {};
}

Status check_idlers(Protocol protocol, bool dsr, uint32_t idlers) {
  if (idlers == 0) return {};
  if (protocol != Protocol::kTcp) return Status::invalid("idlers (idle TCP connections) are for TCP services only");
  if (dsr) return Status::invalid("direct server return forwards frames; idlers cannot apply");
  return {};
}

namespace {

// Direct Server Return forwards frames: nothing that reads or writes the
// byte stream, or binds sockets for it, can apply.
Status check_dsr(const ServiceConfig& s) {
  if (s.dsr_interface.empty()) {
    if (!s.tarpit.empty()) return Status::invalid("tarpit_acl works with direct server return (dsr_if) only");
    return {};
  }
  if (s.listen.family() != AF_INET || s.listen.ip_string() == "0.0.0.0") {
    return Status::invalid("direct server return needs the service's own IPv4 address as the listen address, got " +
                           s.listen.to_string());
  }
  const std::pair<bool, const char*> conflicts[] = {
      {s.transparent, "transparent"},         {s.http, "http (X-Forwarded-For)"}, {s.dummy, "dummy"},
      {s.proxy_protocol != ProxyProtocol::kOff, "proxy_protocol"},
      {!s.accept_proxy_from.empty(), "accept_proxy_protocol"},
      {s.source.has_value(), "source"},       {s.abuse.has_value(), "an abuse server (-B)"}};
  for (const auto& [set, what] : conflicts) {
    if (set) return Status::invalid(std::string("direct server return forwards frames; ") + what + " cannot apply");
  }
  for (const auto& b : s.backends) {
    if (b.address.family() != AF_INET) {
      return Status::invalid("direct server return reaches backends by ARP: backend " + b.address.to_string() +
                             " is not IPv4");
    }
    if (b.proxy_protocol && *b.proxy_protocol != ProxyProtocol::kOff) {
      return Status::invalid("direct server return forwards frames; backend " + b.address.to_string() +
                             "'s proxy_protocol cannot apply");
    }
    if (b.tcp_fast_open) {
      return Status::invalid("direct server return forwards frames; backend " + b.address.to_string() +
                             "'s tcp_fast_open cannot apply");
    }
  }
  return {};
}

}  // namespace

Status check_listen_path(const ServiceConfig& s) {
  if (s.listen_path.empty()) return {};
  if (s.listen_path.front() != '/') {
    return Status::invalid("a Unix socket listen path must be absolute (start with /), got '" + s.listen_path + "'");
  }
  // sockaddr_un's sun_path holds 108 bytes with the terminating NUL.
  if (s.listen_path.size() > 107 || s.listen_path.find('\0') != std::string::npos) {
    return Status::invalid("a Unix socket listen path must be 1-107 bytes, got '" + s.listen_path + "'");
  }
  // Each of these needs the client's IP, which a Unix socket's client has not.
  const std::pair<bool, const char*> conflicts[] = {{s.protocol == Protocol::kUdp, "UDP (-U)"},
                                                    {s.transparent, "transparent"},
                                                    {!s.dsr_interface.empty(), "direct server return (dsr_if)"},
                                                    {s.defer_accept, "defer_accept (TCP_DEFER_ACCEPT)"}};
  for (const auto& [set, what] : conflicts) {
    if (set) {
      return Status::invalid(std::string("a Unix socket listen path (") + s.listen_path + ") cannot be used with " +
                             what);
    }
  }
  return {};
}

namespace {

Status check_tls_floor(const std::string& min_version) {
  if (min_version == "1.2" || min_version == "1.3") return {};
  return Status::invalid("min_version must be 1.2 or 1.3, got '" + min_version + "'");
}

// TLS on either hop is a TCP stream nib itself relays.
Status check_tls_transport(const ServiceConfig& s) {
  if (s.protocol == Protocol::kUdp) return Status::invalid("TLS is for TCP services only");
  if (!s.dsr_interface.empty()) return Status::invalid("not with dsr_interface (nib never sees a DSR stream)");
  return {};
}

Status check_alpn(const std::vector<std::string>& alpn) {
  for (const std::string& p : alpn) {
    // The wire format gives each name one length byte.
    if (p.empty() || p.size() > 255) {
      return Status::invalid("an ALPN protocol name must be 1 to 255 bytes, got '" + p + "'");
    }
  }
  return {};
}

}  // namespace

Status check_tls_settings(const TlsConfig& t) {
  if (Status st = check_tls_floor(t.min_version); !st.ok()) return st;
  if (!limits::kTlsHandshakeTimeout.contains(t.handshake_timeout_seconds)) {
    return Status::invalid("handshake_timeout must be " + describe(limits::kTlsHandshakeTimeout) + ", got " +
                           std::to_string(t.handshake_timeout_seconds));
  }
  return check_alpn(t.alpn);
}

namespace {

Status check_client_tls(const ServiceConfig& s) {
  const TlsConfig& t = s.tls;
  if (!t.enabled()) {
    if (!t.key_file.empty() || !t.ca_file.empty() || !t.ca_dir.empty() || !t.sni_path.empty() || !t.ciphers.empty() ||
        t.client_auth != TlsClientAuth::kOff || !t.alpn.empty() || !t.ocsp_response_file.empty() ||
        s.tls_terminator) {
      return Status::invalid("TLS settings without a certificate (YAML tls.cert, Pen's -E)");
    }
    return {};
  }
  if (Status st = check_tls_transport(s); !st.ok()) return st;
  return check_tls_settings(t);
}

Status check_backend_tls(const ServiceConfig& s) {
  const BackendTlsConfig& b = s.backend_tls;
  if (!b.enabled) {
    if (b != BackendTlsConfig{} || s.tls_connector) {
      return Status::invalid("backend_tls settings while backend_tls is not enabled");
    }
    return {};
  }
  if (Status st = check_tls_transport(s); !st.ok()) return Status::invalid("backend_tls: " + st.message());
  if (Status st = check_tls_floor(b.min_version); !st.ok()) return Status::invalid("backend_tls: " + st.message());
  if (!b.key_file.empty() && b.cert_file.empty()) return Status::invalid("backend_tls: a key without a cert");
  if (!b.verify && (!b.ca_file.empty() || !b.ca_dir.empty())) {
    return Status::invalid("backend_tls: CAs given while verify is off");
  }
  // Health checks do not speak TLS: an http or send-expect probe would send
  // plaintext to a TLS port and take every backend down.
  auto plaintext = [](const std::optional<HealthCheckConfig>& c) {
    return c && c->type != HealthCheckType::kTcp;
  };
  bool any = plaintext(s.health_check);
  for (const auto& backend : s.backends) any = any || plaintext(backend.health_check);
  if (any) {
    return Status::invalid("backend_tls: health checks to TLS backends must be type: tcp (an http or send_expect "
                           "check does not speak TLS)");
  }
  return {};
}

}  // namespace

Status check_tls(const ServiceConfig& s) {
  if (Status st = check_client_tls(s); !st.ok()) return Status::invalid("tls: " + st.message());
  return check_backend_tls(s);
}

Status check_tls_loaded(const ServiceConfig& s) {
  if (s.tls.enabled() && !s.tls_terminator) {
    return Status::invalid("service '" + s.name + "': tls: the certificate " + s.tls.cert_file +
                           " was not loaded (no terminator was made for it)");
  }
  if (s.backend_tls.enabled && !s.tls_connector) {
    return Status::invalid("service '" + s.name + "': backend_tls was not loaded (no connector was made for it)");
  }
  return {};
}

Status validate(const DataplaneConfig& config) {
  if (config.services.empty()) return Status::invalid("no service is configured");
  std::set<std::string> names;
  std::set<std::string> listeners;
  for (const auto& s : config.services) {
    if (Status st = check_service_name("service name", s.name); !st.ok()) return st;
    if (!names.insert(s.name).second) return Status::invalid("service name '" + s.name + "' is used twice");
    const std::string where = s.listen_path.empty() ? s.listen.to_string() : s.listen_path;
    std::string key = std::string(to_string(s.protocol)) + "/" + where;
    if (!listeners.insert(key).second) {
      return Status::invalid("service '" + s.name + "': listen address " + where + " is used by another service");
    }
    if (Status st = check_listen_path(s); !st.ok()) return Status::invalid("service '" + s.name + "': " + st.message());
    if (!(s.slow_start_seconds >= 0 && s.slow_start_seconds <= kMaxSlowStartSeconds)) {
      return Status::invalid("service '" + s.name + "': slow_start must be 0-3600 seconds, got " +
                             std::to_string(s.slow_start_seconds));
    }
    if (!(s.drain_timeout_seconds >= 0 && s.drain_timeout_seconds <= 1e9)) {
      return Status::invalid("service '" + s.name + "': drain_timeout must be 0-1000000000 seconds, got " +
                             std::to_string(s.drain_timeout_seconds));
    }
    if (s.health_check) {
      if (Status st = check_for(*s.health_check, s.protocol); !st.ok()) {
        return Status::invalid("service '" + s.name + "': health_check: " + st.message());
      }
    }
    for (const auto& [what, server] : {std::pair{"emergency", &s.emergency}, std::pair{"abuse", &s.abuse}}) {
      if (!*server) continue;
      if (Status st = check_host(std::string(what) + " host", (*server)->host); !st.ok()) {
        return Status::invalid("service '" + s.name + "': " + st.message());
      }
    }
    if (s.abuse && (!s.abuse->address.valid() || s.abuse->address.port() == 0)) {
      return Status::invalid("service '" + s.name + "': the abuse server must be an IP address with a port 1-65535");
    }
    if (s.source && (!s.source->valid() || s.source->port() != 0)) {
      return Status::invalid("service '" + s.name + "': source must be an IP address without a port");
    }
    if (Status st = check_proxy_protocol(s.protocol, s.proxy_protocol); !st.ok()) {
      return Status::invalid("service '" + s.name + "': " + st.message());
    }
    if (Status st = check_idlers(s.protocol, !s.dsr_interface.empty(), s.policy.idlers); !st.ok()) {
      return Status::invalid("service '" + s.name + "': " + st.message());
    }
    if (s.protocol == Protocol::kUdp && !s.accept_proxy_from.empty()) {
      return Status::invalid("service '" + s.name + "': accept_proxy_protocol is for TCP services only");
    }
    if (s.protocol == Protocol::kUdp && s.dummy) {
      return Status::invalid("service '" + s.name + "': dummy (a test web server) is for TCP services only");
    }
    if (s.protocol == Protocol::kUdp && (s.http || s.http_forwarded)) {
      return Status::invalid("service '" + s.name + "': http (X-Forwarded-For) is for TCP services only");
    }
    if (Status st = check_dsr(s); !st.ok()) return Status::invalid("service '" + s.name + "': " + st.message());
    if (Status st = check_tls(s); !st.ok()) return Status::invalid("service '" + s.name + "': " + st.message());
    if (s.http_forwarded && !s.http) {
      return Status::invalid("service '" + s.name + "': http_forwarded needs http: true");
    }
    for (const IpPrefix& p : s.accept_proxy_from) {
      if (!p.valid()) return Status::invalid("service '" + s.name + "': accept_proxy_protocol: invalid prefix");
    }
    // The same address may be listed twice, as Pen's command line allows
    // (each is a server of its own); the YAML loader refuses it, naming lines.
    for (const auto& b : s.backends) {
      for (Status st : {check_host("host", b.host), check_proxy_protocol(s.protocol, b.proxy_protocol),
                        check_tcp_fast_open(s.protocol, b.tcp_fast_open)}) {
        if (!st.ok()) {
          return Status::invalid("service '" + s.name + "': backend " + b.address.to_string() + ": " + st.message());
        }
      }
      if (b.health_check) {
        if (Status st = check_for(*b.health_check, s.protocol); !st.ok()) {
          return Status::invalid("service '" + s.name + "': backend " + b.address.to_string() +
                                 ": health_check: " + st.message());
        }
      }
    }
  }
  return {};
}

}  // namespace nib
