#pragma once
// Pen's control port (-C [host:]port): the penctl text protocol, one command
// per connection ("servers\n"), a reply, then close. The connections are
// served together by PenctlListener (penctl_listener.h, with the limits:
// connections, the command line's deadline and length). Commands act on the
// Dataplane's runtime-management interface, on the first service (Pen runs
// exactly one). No authentication, like Pen: listen on loopback.
//
// Supported: servers; server N weight|prio|max|hard|blacklist V (several
// pairs may follow N); status (the HTML page); clients_max [N]; blacklist [N];
// tracking [N]; roundrobin, hash, weight, prio, stubborn and their "no"
// forms; mode; recent [N]; pid; acl N permit|deny ip [mask] / ip6[/len];
// no acl N; client_acl N; control_acl N. Anything else answers "ignoring
// command", as Pen does.
//
// Access lists: the ten lists (0-9) live here. The one named by client_acl
// (default 0) is pushed to the service through Dataplane::set_client_acl
// whenever it or the choice changes (not before: list 0 starts empty and must
// not override a configured acl). The one named by control_acl (default 0)
// is checked here for each control connection; a denied one is closed
// without a reply.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/common/admin_limits.h"
#include "dataplane/base/status.h"
#include "dataplane/net/access_list.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

class AdminPlaneStats;
class PenctlListener;

struct PenctlServerOptions {
  std::string listen;  // "host:port" (an IP literal); port 0 picks a free one
  PenctlLimits limits;
  AdminPlaneStats* stats = nullptr;  // may be null; must outlive the server
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
  // Any thread; idempotent. Closes every control connection, whatever its
  // client is doing.
  void stop();

  // One command line (without the newline) -> the reply Pen would send.
  // Any thread (the Dataplane is thread-safe); public for tests.
  std::string execute(const std::string& line);

 private:
  // The acl, no acl, client_acl and control_acl commands; nullopt for other words.
  std::optional<std::string> execute_acl(const std::vector<std::string>& w, const std::string& service);
  bool control_permits(const SocketAddress& peer) const;

  static constexpr size_t kAccessLists = 10;
  mutable std::mutex acl_mu_;  // the lists and both choices; never held across a syscall
  std::array<AccessList, kAccessLists> acls_;
  size_t client_acl_ = 0;
  size_t control_acl_ = 0;

  Dataplane& dataplane_;
  const PenctlServerOptions options_;
  uint16_t port_ = 0;
  std::unique_ptr<PenctlListener> listener_;  // last: it calls execute() until stopped
};

}  // namespace nib::admin
