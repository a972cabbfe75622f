#pragma once
// What the YAML loader and Pen's command line share: the parsing of numbers,
// seconds and addresses against the ranges of dataplane/config/limits.h, so a
// value is accepted (and an error worded) the same way whichever front end it
// came from.
#include <cstdint>
#include <string>
#include <string_view>

#include <optional>

#include "dataplane/base/status.h"
#include "dataplane/config/limits.h"
#include "dataplane/config/stored_text.h"
#include "dataplane/config/service_config.h"
#include "dataplane/net/socket_address.h"

namespace nib {

// IntRange, SecondsRange, limits:: and describe() are in dataplane/config/limits.h.

// Decimal integers only. Errors read "expected an integer 1-65535, got 'http'".
Result<int64_t> parse_int(std::string_view text, IntRange range);
// Integers or decimals ("2.5"). Errors read "expected seconds >= 0, got 'abc'".
Result<double> parse_seconds(std::string_view text, SecondsRange range);

// Service names appear in URLs, metric labels, log lines and the state file:
// kServiceNameRule (dataplane/config/stored_text.h, the rule every front end shares).
bool is_valid_service_name(std::string_view name);

struct Endpoint {
  std::string host;  // as written, brackets removed; empty for a wildcard listener
  SocketAddress address;
};

// Where a port may be a service name: Pen's command line takes "smtp" or
// "http" for its listener and servers, looked up in /etc/services for the
// service's protocol (getservbyname). YAML takes numbers only (nullopt).
using ServiceNames = std::optional<Protocol>;

// 1-65535, or a service name when `names` says for which protocol.
Result<uint16_t> parse_port(std::string_view text, ServiceNames names = std::nullopt);
// A host (IP literal, "[v6 literal]" or a name, resolved now) and a port.
Result<Endpoint> resolve_endpoint(std::string_view host, uint16_t port);
// "[host:]port" for listeners: no host means 0.0.0.0; "[::1]:8080" for IPv6.
// A "/path" (Pen's Unix socket listener) gets a clear not-supported error.
Result<Endpoint> parse_listen_address(std::string_view text, ServiceNames names = std::nullopt);
// "host:port" with the host required (backends, the emergency server).
Result<Endpoint> parse_host_port(std::string_view text, ServiceNames names = std::nullopt);

}  // namespace nib
