#pragma once
// Pen's background mode (its command line without -f), with startup errors
// kept in the foreground: detach() forks before any thread starts; the parent
// waits on a pipe until the child reports that it is ready (listeners bound,
// pid file written) and exits 0, or exits with the child's status when the
// child fails first. So "nib 8080 a b" still exits 2 on a busy port, and a
// script that starts it finds the pid file in place when it returns.
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"

namespace nib {

class Daemon {
 public:
  // Main thread, before any other thread exists (fork keeps only the caller).
  // In the parent: never returns. In the child, a session leader of its own:
  // the handle to call ready() on. An error when fork or pipe fails.
  static Result<Daemon> detach();

  // Child: startup is over. Lines go to syslog from here on, stdin, stdout and
  // stderr to /dev/null, and the parent exits 0. Call once.
  void ready();

 private:
  explicit Daemon(UniqueFd ready, UniqueFd null) : ready_(std::move(ready)), null_(std::move(null)) {}
  UniqueFd ready_;  // write end: one byte means ready; EOF without it means failed
  // /dev/null and the syslog socket are opened at detach(): ready() comes
  // after the chroot (-j), where neither may exist.
  UniqueFd null_;
};

}  // namespace nib
