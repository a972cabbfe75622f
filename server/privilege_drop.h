#pragma once
// Pen's -u USER and -j DIR: least privilege once nib holds what it needs.
//
// Three steps, all on the main thread:
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
// - release_kept(), once the threads that need the kept capabilities have
//   started: the main thread gives them up too.
//
// Threads: the admin servers and the dataplane's helper threads already run
// when apply() is called (gRPC binds its port and starts its threads in one
// call, so binding everything before any thread starts is not possible).
// glibc makes setgroups/setgid/setuid apply to every thread of the process
// (its "setxid" broadcast), and the kernel clears a thread's capabilities
// when its uids leave 0 unless that thread itself set PR_SET_KEEPCAPS; a
// thread cannot take back a capability once its permitted set lost it. So
// every thread running at apply() ends with none, and only the calling
// thread keeps `keep`. A thread is created with its creator's credentials:
// the threads that need a kept capability (the workers that make
// transparent sockets) are started by the main thread between apply() and
// release_kept(), and hold exactly `keep`; threads started after that, none.
// The integration tests read every /proc/PID/task/*/status.
#include <sys/types.h>

#include <string>
#include <vector>

#include "dataplane/base/status.h"

namespace nib {

// Capabilities nib may keep after the uid change: transparent mode's
// workers make IP_TRANSPARENT sockets (CAP_NET_ADMIN) for every upstream
// connection. (DSR's packet socket is opened before the drop: it keeps none.)
enum class Capability { kNetAdmin, kNetRaw };

struct PrivilegeOptions {
  std::string user;  // -u: empty keeps the current user
  std::string jail;  // -j: empty, no chroot
  // Kept, permitted and effective, in the thread that calls apply() and the
  // threads it starts until release_kept() (PR_SET_KEEPCAPS, then
  // cap_set_proc); their bounding set is reduced to it, so no execve gains
  // another. Every other thread keeps none. Empty: nib keeps no capability.
  std::vector<Capability> keep;
};

class PrivilegeDrop {
 public:
  // Main thread, before anything is opened. Errors (exit 2): an unknown user,
  // a jail that is not a directory, -u/-j without root.
  static Result<PrivilegeDrop> prepare(PrivilegeOptions options);

  // Nothing to do (neither -u nor -j).
  bool enabled() const { return !options_.user.empty() || !options_.jail.empty(); }
  // apply() keeps a capability (-u and a non-empty keep).
  bool keeps_capabilities() const { return !options_.user.empty() && !options_.keep.empty(); }

  // Main thread, once. After a failure part of the drop may have happened;
  // the caller stops nib.
  [[nodiscard]] Status apply();
  // Main thread, after apply(): the calling thread gives up what apply() kept
  // (threads it started since keep theirs), and the result is checked. Nothing
  // to do when nothing was kept.
  [[nodiscard]] Status release_kept();

  // "user nobody (uid 65534, gid 65534, groups 65534), chroot /srv/nib", then
  // ", keeping CAP_NET_ADMIN" when it keeps one, for the log.
  std::string describe() const;

 private:
  explicit PrivilegeDrop(PrivilegeOptions options) : options_(std::move(options)) {}
  // The ids are the user's and the calling thread holds exactly `caps`.
  Status verify(const std::vector<Capability>& caps) const;

  PrivilegeOptions options_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::vector<gid_t> groups_;  // the user's primary and supplementary groups
  bool bounding_limited_ = false;  // apply() reduced the bounding set to `keep`
};

}  // namespace nib
