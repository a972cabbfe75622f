#pragma once
// nib's connections that web server lines are matched against (issue 14),
// one set of rules for the offline merge (LogMerger) and the live one
// (LiveMerger).
//
// How a web server line finds its connection:
//   - by port, when the server logs its peer's port in the first field
//     ("$remote_addr:$remote_port" in nginx, "%a:%{remote}p" in Apache) and
//     nib's log carries backend_source_port (json, or a template with it):
//     the connection from that port to that backend whose lifetime (with the
//     window either side) holds the line's time. Exact for every request of a
//     keep-alive connection; a connection may answer many lines this way.
//   - else by request, as penlogd does: the oldest connection to that backend,
//     within the window, whose first request line is the line's request; each
//     connection answers one line this way (nib logs only the first request).
// A line without a parseable [time] matches nothing.
//
// Memory: at most `capacity` connections; adding one more forgets the one
// added first (penlogd's -n cache). The offline merge passes no limit.
//
// Thread contract: none; one thread owns it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "server/logd/log_lines.h"

namespace nib {

class ConnectionIndex {
 public:
  enum class MatchedBy { kPort, kRequest };
  struct Match {
    const NibConnection* connection;  // valid until the next add()
    MatchedBy by;
  };

  // window_ms: how far a line's time may lie outside its connection's
  // lifetime (web servers log in whole seconds, and at the end of a request).
  explicit ConnectionIndex(int64_t window_ms, size_t capacity = std::numeric_limits<size_t>::max());

  void add(NibConnection c);
  // The connection `line` was served on by `backend` (port 0: any port of
  // its address). A match by request uses that connection up.
  std::optional<Match> match(const SocketAddress& backend, const ServerLine& line);

  size_t size() const { return entries_.size(); }
  uint64_t evicted() const { return evicted_; }

  // `text`, the server's line, with `c`'s client in its first field, in the
  // line's shape (IP or IP:PORT) unless nib's line had no port (Pen's format).
  static std::string with_client(std::string_view text, const ServerLine& line, const NibConnection& c);

 private:
  using Seq = uint64_t;  // order of add(): the eviction order

  const NibConnection* by_port(const SocketAddress& backend, uint16_t port, int64_t t) const;
  const NibConnection* by_request(const SocketAddress& backend, const std::string& request, int64_t t);
  void evict_oldest();

  int64_t window_ms_;
  size_t capacity_;
  Seq next_ = 0;
  uint64_t evicted_ = 0;
  std::map<Seq, NibConnection> entries_;
  std::multimap<uint16_t, Seq> from_port_;
  // Connections not yet used up by a request match, by start time (oldest
  // first), ties in the order they were added.
  std::map<std::string, std::multimap<int64_t, Seq>, std::less<>> with_request_;
};

}  // namespace nib
