#pragma once
// Pen's -u USER and -j DIR: least privilege once nib holds what it needs.
//
// Two steps, both on the main thread:
// - prepare(), before anything is bound or opened: looks the user and its
//   groups up (the jail has no /etc/passwd, and a typo must stop nib with
//   nothing served) and moves into the jail directory, so a relative path
//   names the same file before and after the chroot (the state file is read
//   at start and written after the chroot: with -j it must be relative).
// - apply(), once every listener and admin port is bound and every file nib
//   keeps is open: chroot(DIR) and chdir("/"), then the supplementary groups,
//   the gid and the uid, in that order (Pen's: chroot before setuid, which
//   would forbid it; each group change before the uid change that forbids
//   it). It then checks the result: the ids, no capability left but those
//   asked to keep, and setuid(0) refused.
//
// Threads: the workers and the admin servers already run when apply() is
// called (gRPC binds its port and starts its threads in one call, so binding
// everything before any thread starts is not possible). glibc makes
// setgroups/setgid/setuid apply to every thread of the process (its "setxid"
// broadcast), and the kernel clears a thread's capabilities when its uids
// leave 0, so every thread ends up unprivileged; the integration test reads
// every /proc/PID/task/*/status. Threads started later inherit the caller's
// credentials.
#include <sys/types.h>

#include <string>
#include <vector>

#include "dataplane/base/status.h"

namespace nib {

// Capabilities a future mode may keep after the uid change (transparent
// proxying and DSR need raw sockets and routing); none today.
enum class Capability { kNetAdmin, kNetRaw };

struct PrivilegeOptions {
  std::string user;  // -u: empty keeps the current user
  std::string jail;  // -j: empty, no chroot
  // Kept in the calling thread (PR_SET_KEEPCAPS, then cap_set_proc); every
  // other thread keeps none. Empty: nib keeps no capability at all.
  std::vector<Capability> keep;
};

class PrivilegeDrop {
 public:
  // Main thread, before anything is opened. Errors (exit 2): an unknown user,
  // a jail that is not a directory, -u/-j without root.
  static Result<PrivilegeDrop> prepare(PrivilegeOptions options);

  // Nothing to do (neither -u nor -j).
  bool enabled() const { return !options_.user.empty() || !options_.jail.empty(); }

  // Main thread, once. After a failure part of the drop may have happened;
  // the caller stops nib.
  [[nodiscard]] Status apply();

  // "user nobody (uid 65534, gid 65534, groups 65534), chroot /srv/nib", for the log.
  std::string describe() const;

 private:
  explicit PrivilegeDrop(PrivilegeOptions options) : options_(std::move(options)) {}
  Status verify() const;

  PrivilegeOptions options_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::vector<gid_t> groups_;  // the user's primary and supplementary groups
};

}  // namespace nib
