#pragma once
// nib-logd serve's logic (issue 14; Pen's penlogd), without sockets: lines
// arrive as datagrams, from nib (its access log sent with -l host:port, Pen's
// "+" entries or json) and from each web server (its Common/Combined Log
// Format lines, sent by penlog from the address nib connects to). A server's
// line goes out at once with nib's client put back (ConnectionIndex's rules,
// the datagram's source IP naming the backend), or unchanged.
//
// The ordering problem: nib logs a connection when it closes, a web server a
// request when it ends, so on a keep-alive connection the server's line comes
// first. A line that matches nothing waits (window + 1 s, the server's whole
// second) and is tried again as each nib line arrives; once its wait is over
// it is written unchanged. Lines are written in the order they are decided,
// not in time order.
//
// Bounded: `cache` nib connections (the oldest forgotten first, penlogd's
// -n), `max_held` waiting lines (the oldest written unchanged first).
// A line that looks like nib's but does not parse is dropped and counted;
// warn() hears of the first and of every kWarnEvery-th after it.
//
// Time: the injected Clock decides when a wait is over; nothing here sleeps.
//
// Thread contract: none; the server's loop thread owns it.
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/base/clock.h"
#include "server/logd/connection_index.h"

namespace nib {

class LiveMerger {
 public:
  static constexpr uint64_t kWarnEvery = 1000;
  // One line, without its '\n'.
  using Sink = std::function<void(std::string_view)>;

  struct Options {
    int64_t window_ms = 2000;
    size_t cache = 1000;
    size_t max_held = 10000;
  };
  struct Report {
    uint64_t nib_lines = 0;
    uint64_t bad_nib_lines = 0;
    uint64_t server_lines = 0;
    uint64_t by_port = 0;
    uint64_t by_request = 0;
    uint64_t unmatched = 0;
    uint64_t late = 0;  // matched after waiting
  };

  LiveMerger(const Options& options, const Clock& clock, Sink write, Sink warn);

  // The text of one datagram (one or more lines) from `source`.
  void receive(std::string_view datagram, const SocketAddress& source);
  // Writes unchanged the lines whose wait is over; how long until the next
  // one's is (poll's timeout), nullopt when none waits.
  std::optional<Duration> expire();
  // Writes every waiting line unchanged (at shutdown).
  void flush();

  const Report& report() const { return report_; }
  size_t held() const { return held_.size(); }

 private:
  struct Held {
    MonoTime until;
    SocketAddress backend;
    ServerLine parsed;
    std::string text;
  };

  void on_nib_line(std::string_view line);
  void on_server_line(std::string_view line, const SocketAddress& backend);
  bool write_if_matched(const SocketAddress& backend, const ServerLine& parsed, std::string_view text);
  void retry_held(const SocketAddress& backend);
  void write_unmatched(std::string_view text);

  const Clock& clock_;
  Duration hold_;
  size_t max_held_;
  ConnectionIndex index_;
  Sink write_;
  Sink warn_;
  Report report_;
  std::list<Held> held_;  // arrival order, so `until` never decreases
};

}  // namespace nib
