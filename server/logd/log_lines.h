#pragma once
// The lines nib-logd reads (issue 14): nib's access log lines, whichever way
// nib wrote them, and a web server's Common/Combined Log Format lines.
// Parsing only; which server line belongs to which connection is
// ConnectionIndex's business.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {

// One connection from nib's access log.
struct NibConnection {
  // end_ms of a line that carries no time (penlogd's "+" entry): the
  // connection spans every time, so only its backend and request tell.
  static constexpr int64_t kTimeUnknown = INT64_MAX / 4;

  std::string client_ip;
  uint16_t client_port = 0;
  SocketAddress backend;
  uint16_t source_port = 0;   // 0: not logged (Pen's format)
  int64_t start_ms = 0;       // unix milliseconds: close time less duration
  int64_t end_ms = 0;
  std::string request;        // the first request line; empty when unknown
};

// One line of nib's access log: JSON (format: json), Pen's file line
// ("CLIENT_IP UNIX_TIME BACKEND_IP REQUEST") or Pen's UDP entry for penlogd
// ("+ CLIENT_IP BACKEND_IP REQUEST"). nullopt for a line that names no
// backend (nothing was relayed); an error for a line of none of these shapes.
[[nodiscard]] Result<std::optional<NibConnection>> parse_nib_line(std::string_view line);

// Whether a line that parse_nib_line refused was still meant as nib's (json,
// or a "+" entry): no web server's log line starts that way. Pen's file
// shape is not told apart; a line of it that fails is taken for a server's.
bool looks_like_nib_line(std::string_view line);

// A web server's log line: its first field split into address and optional
// port, its [time] and its "request".
struct ServerLine {
  std::string remote_ip;
  std::optional<uint16_t> remote_port;
  std::optional<int64_t> unix_ms;  // nullopt: no parseable [time]
  std::string request;
};
[[nodiscard]] std::optional<ServerLine> parse_server_line(std::string_view line);

}  // namespace nib
