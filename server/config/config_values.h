#pragma once
// What the YAML loader and Pen's command line share: the range of every numeric
// setting, and the parsing of numbers, seconds and addresses, so that a value is
// accepted (and an error worded) the same way whichever front end it came from.
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {

struct IntRange {
  int64_t min;
  int64_t max;
};

struct SecondsRange {
  double min;
  bool min_exclusive;  // timeouts: 0 would mean "give up at once"
  double max;
};

// No duration may exceed this: the dataplane turns seconds into int64
// nanoseconds, and 1e9 s (~31 years) keeps that far from overflowing.
inline constexpr double kMaxSeconds = 1e9;

namespace limits {
inline constexpr IntRange kWorkers{0, 256};
inline constexpr IntRange kTableSize{1, 100'000'000};
inline constexpr IntRange kPort{1, 65535};
inline constexpr IntRange kConnectionLimit{0, 1'000'000};  // soft_limit, hard_limit
inline constexpr IntRange kWeight{0, 10'000};
inline constexpr IntRange kPrio{0, 1'000'000};
inline constexpr IntRange kMaxConnections{0, 10'000'000};
inline constexpr IntRange kBacklog{1, 65535};
inline constexpr IntRange kMultiAccept{1, 1'000'000};  // Pen's -m: checked, then ignored
// blacklist, tracking, idle_timeout, shutdown_grace
inline constexpr SecondsRange kSeconds{0, false, kMaxSeconds};
inline constexpr SecondsRange kConnectTimeout{0, true, 3600};
// UDP: how long a silent session lives (0 would end every session at once),
// and the session limit (0 = as many as file descriptors allow).
inline constexpr SecondsRange kSessionTimeout{0, true, kMaxSeconds};
inline constexpr IntRange kMaxSessions{0, 10'000'000};
// How long a backend that came up ramps to its full share (0 = off).
inline constexpr SecondsRange kSlowStart{0, false, 3600};
}  // namespace limits

// "an integer 1-65535"
std::string describe(IntRange range);
// "seconds >= 0", "seconds > 0 and <= 3600"
std::string describe(SecondsRange range);

// Decimal integers only. Errors read "expected an integer 1-65535, got 'http'".
Result<int64_t> parse_int(std::string_view text, IntRange range);
// Integers or decimals ("2.5"). Errors read "expected seconds >= 0, got 'abc'".
Result<double> parse_seconds(std::string_view text, SecondsRange range);

// Service names appear in URLs, metric labels and log lines: [A-Za-z0-9_.-]{1,64}.
bool is_valid_service_name(std::string_view name);
inline constexpr const char* kServiceNameRule = "a name of 1-64 letters, digits, '_', '.' or '-'";

struct Endpoint {
  std::string host;  // as written, brackets removed; empty for a wildcard listener
  SocketAddress address;
};

// A host (IP literal, "[v6 literal]" or a name, resolved now) and a port.
Result<Endpoint> resolve_endpoint(std::string_view host, uint16_t port);
// "[host:]port" for listeners: no host means 0.0.0.0; "[::1]:8080" for IPv6.
// A "/path" (Pen's Unix socket listener) gets a clear not-supported error.
Result<Endpoint> parse_listen_address(std::string_view text);
// "host:port" with the host required (backends, the emergency server).
Result<Endpoint> parse_host_port(std::string_view text);

}  // namespace nib
