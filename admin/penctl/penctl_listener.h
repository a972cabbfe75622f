#pragma once
// The control port's transport: one command line in, one reply out, then
// close (what penctl does). Every connection is served at once by one epoll
// loop (dataplane/event/event_loop.h), so an idle or dribbling client costs a
// descriptor and a few KiB, never the other clients' time. The command itself
// (PenctlServer::execute) runs on one command thread, off the loop: a change
// waits there for its durable write (fsync) while the loop serves the others.
//
// Limits (admin/common/admin_limits.h, PenctlLimits): a connection past
// max_connections is told so and closed; a command line must end (newline, or
// the client's end of sending) within command_timeout of the connect and fit
// max_line_bytes, or the client gets an error line and the connection closes.
#include <functional>
#include <memory>
#include <string>

#include "admin/common/admin_limits.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/net/socket_address.h"

namespace nib::admin {

class AdminPlaneStats;

// What a command answers. A failed one (its text one "error: ..." line) has
// its connection reset once the text is delivered: penctl(1) exits non-zero
// only when a read fails, so the reset is what tells a script it failed.
struct PenctlReply {
  std::string text;
  bool failed = false;
};

class PenctlListener {
 public:
  // Loop thread. Whether a client may talk to the control port at all (a
  // refused one is closed without a reply, as Pen does).
  using Admit = std::function<bool(const SocketAddress& peer)>;
  // The command thread (one, so commands run one at a time). The reply to one
  // command line (newline and "\r" removed).
  using Execute = std::function<PenctlReply(const std::string& line)>;

  // `listener`: a bound, listening, non-blocking socket. `stats` may be null
  // and must outlive the listener.
  PenctlListener(UniqueFd listener, PenctlLimits limits, AdminPlaneStats* stats, Admit admit, Execute execute);
  ~PenctlListener();  // stop()
  PenctlListener(const PenctlListener&) = delete;
  PenctlListener& operator=(const PenctlListener&) = delete;

  // Starts the loop thread. Call once.
  Status start();
  // Any thread but the loop's; idempotent. Closes every connection, whatever
  // its client is doing, and joins.
  void stop();

 private:
  class Loop;
  std::unique_ptr<Loop> loop_;
};

}  // namespace nib::admin
