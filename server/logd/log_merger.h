#pragma once
// nib-logd's merge (issue 14; Pen's mergelogs): behind nib, a web server logs
// nib's address as every request's client. LogMerger takes nib's access log
// and each backend's own log (Common or Combined Log Format) and writes the
// backends' lines, merged in time order, with the real client put back in
// the first field.
//
// Which line belongs to which connection: ConnectionIndex. A line that
// matches nothing is written unchanged and counted.
//
// Thread contract: none (one thread, the tool's).
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "server/logd/connection_index.h"
#include "server/logd/log_lines.h"

namespace nib {

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
  explicit LogMerger(int64_t window_ms) : index_(window_ms) {}

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

  ConnectionIndex index_;
  std::vector<Pending> lines_;
};

}  // namespace nib
