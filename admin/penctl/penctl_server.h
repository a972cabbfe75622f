#pragma once
// Pen's control port (-C [host:]port): the penctl text protocol, one command
// per connection ("servers\n"), a reply, then close. Commands act on the
// Dataplane's runtime-management interface, on the first service (Pen runs
// exactly one). No authentication, like Pen: listen on loopback.
//
// Supported: servers; server N weight|prio|max|hard|blacklist V (several
// pairs may follow N); status (the HTML page); clients_max [N]; blacklist [N];
// tracking [N]; roundrobin, hash, weight, prio, stubborn and their "no"
// forms; mode; recent [N]; pid. Anything else answers "ignoring command", as
// Pen does.
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

struct PenctlServerOptions {
  std::string listen;  // "host:port" (an IP literal); port 0 picks a free one
};

class PenctlServer {
 public:
  PenctlServer(Dataplane& dataplane, PenctlServerOptions options);
  ~PenctlServer();  // stop()
  PenctlServer(const PenctlServer&) = delete;
  PenctlServer& operator=(const PenctlServer&) = delete;

  // Binds and starts the serving thread. kInvalidArgument for a malformed
  // address, kUnavailable when it cannot be bound. Call once.
  Status start();
  uint16_t port() const { return port_; }
  // Any thread; idempotent.
  void stop();

  // One command line (without the newline) -> the reply Pen would send.
  // Any thread (the Dataplane is thread-safe); public for tests.
  std::string execute(const std::string& line);

 private:
  void serve();
  void handle(UniqueFd client);

  Dataplane& dataplane_;
  const PenctlServerOptions options_;
  UniqueFd listener_;
  UniqueFd wake_;  // eventfd: stop() ends the poll
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace nib::admin
