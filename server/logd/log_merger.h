#pragma once
// nib-logd's merge (issue 14; Pen's mergelogs): behind nib, a web server logs
// nib's address as every request's client. LogMerger takes nib's access log
// and each backend's own log (Common or Combined Log Format) and writes the
// backends' lines, merged in time order, with the real client put back in
// the first field.
//
// How a web server line finds its connection in nib's log:
//   - by port, when the server logs its peer's port in the first field
//     ("$remote_addr:$remote_port" in nginx, "%a:%{remote}p" in Apache) and
//     nib's log carries backend_source_port (json, or a template with it):
//     the connection from that port to that backend whose lifetime (with the
//     window either side) holds the line's time. Exact for every request of a
//     keep-alive connection.
//   - else by request, as penlogd does: the oldest connection to that backend,
//     within the window, whose first request line is the line's request; each
//     connection answers one line this way (nib logs only the first request).
// A line that matches nothing is written unchanged and counted.
//
// Thread contract: none (one thread, the tool's).
#include <cstdint>
#include <istream>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"

namespace nib {

// One connection from nib's access log.
struct NibConnection {
  std::string client_ip;
  uint16_t client_port = 0;
  SocketAddress backend;
  uint16_t source_port = 0;   // 0: not logged (Pen's format)
  int64_t start_ms = 0;       // unix milliseconds: close time less duration
  int64_t end_ms = 0;
  std::string request;        // the first request line; empty when unknown
};

// One line of nib's access log: JSON (format: json) or Pen's file line
// ("CLIENT_IP UNIX_TIME BACKEND_IP REQUEST"). nullopt for a line that names
// no backend (nothing was relayed); an error for a line of neither shape.
[[nodiscard]] Result<std::optional<NibConnection>> parse_nib_line(std::string_view line);

// A web server's log line: its first field split into address and optional
// port, its [time] and its "request".
struct ServerLine {
  std::string remote_ip;
  std::optional<uint16_t> remote_port;
  std::optional<int64_t> unix_ms;  // nullopt: no parseable [time]
  std::string request;
};
[[nodiscard]] std::optional<ServerLine> parse_server_line(std::string_view line);

struct MergeReport {
  uint64_t lines = 0;
  uint64_t by_port = 0;
  uint64_t by_request = 0;
  uint64_t unmatched = 0;
};

class LogMerger {
 public:
  // How far (ms) a line's time may lie outside its connection's lifetime:
  // web servers log in whole seconds, and at the end of a request.
  explicit LogMerger(int64_t window_ms) : window_ms_(window_ms) {}

  // nib's access log; errors name the source and line.
  [[nodiscard]] Status add_nib_log(std::istream& in, const std::string& name);
  // A backend's log. `backend` is the address nib connects to; a port of 0
  // means any port of that address.
  [[nodiscard]] Status add_server_log(const SocketAddress& backend, std::istream& in, const std::string& name);

  // Writes every server line, oldest first (a line without a time keeps its
  // place after the line before it), the client put back where matched.
  MergeReport merge(std::ostream& out);

 private:
  struct Pending {
    int64_t unix_ms = 0;
    size_t order = 0;       // input order: ties and lines without a time
    SocketAddress backend;
    std::string text;
    std::optional<ServerLine> parsed;
  };

  const NibConnection* by_port(const Pending& p) const;
  const NibConnection* by_request(const Pending& p);
  static std::string with_client(const Pending& p, const NibConnection& c);

  int64_t window_ms_;
  std::vector<NibConnection> connections_;
  std::vector<Pending> lines_;
  // Built by merge(), over connections_ sorted oldest first: which
  // connections came from a source port, and which began with a request.
  std::unordered_map<uint16_t, std::vector<uint32_t>> from_port_;
  std::map<std::string, std::vector<uint32_t>, std::less<>> with_request_;
  std::vector<bool> used_;  // by_request() answers each connection once
};

}  // namespace nib
