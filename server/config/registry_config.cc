#include "server/config/registry_config.h"

#include <charconv>
#include <optional>

#include "dataplane/config/limits.h"

namespace nib {

Result<EtcdEndpoint> parse_etcd_endpoint(std::string_view text) {
  EtcdEndpoint e;
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    e.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  const auto colon = rest.rfind(':');
  const std::string expected = "expected an etcd endpoint http://HOST:PORT or https://HOST:PORT, got '" +
                               std::string(text) + "'";
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) return Status::invalid(expected);
  // from_chars, not stoi: a port of many digits is an error, not an exception.
  const std::string_view digits = rest.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc() || end != digits.data() + digits.size() || port < 1 || port > 65535) {
    return Status::invalid(expected);
  }
  for (char c : rest.substr(0, colon)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == '[' || c == ']' || c == ':';
    if (!ok) return Status::invalid(expected);
  }
  e.host_port = std::string(rest);
  return e;
}

bool RegistryConfig::tls() const {
  if (endpoints.empty()) return false;
  auto e = parse_etcd_endpoint(endpoints.front());
  return e.ok() && e->tls;
}

Status check_registry(const RegistryConfig& r) {
  if (!r.enabled()) return {};
  std::optional<bool> tls;
  for (const auto& text : r.endpoints) {
    auto e = parse_etcd_endpoint(text);
    if (!e.ok()) return Status::invalid("registry.endpoints: " + e.status().message());
    if (tls && *tls != e->tls) return Status::invalid("registry.endpoints: mix http and https; use one scheme");
    tls = e->tls;
  }
  if (r.prefix.size() < 2 || r.prefix.front() != '/' || r.prefix.back() != '/' || r.prefix.size() > limits::kPathBytes) {
    return Status::invalid("registry.prefix: expected a key prefix starting and ending with '/' (/nib/), got '" +
                           r.prefix + "'");
  }
  const bool files = !r.tls_ca_file.empty() || !r.tls_cert_file.empty() || !r.tls_key_file.empty();
  if (files && !*tls) return Status::invalid("registry.tls: the endpoints are http://; TLS needs https:// endpoints");
  if (r.tls_cert_file.empty() != r.tls_key_file.empty()) {
    return Status::invalid("registry.tls: expected both cert and key for a client certificate, got only " +
                           std::string(r.tls_cert_file.empty() ? "key" : "cert"));
  }
  if (!r.password_file.empty() && r.user.empty()) {
    return Status::invalid("registry.auth: password_file without user");
  }
  return {};
}

}  // namespace nib
