#pragma once
// -p FILE: the process id, written once nib is ready (scripts and tests take
// the file as "listening"), removed when nib is gone. Declared before the
// running components in App::serve(), so it is removed after they all stopped:
// a script that restarts nib once the file disappears finds the ports free.
#include <string>

#include "dataplane/base/unique_fd.h"

namespace nib {

class PidFile {
 public:
  // Empty path: no file (Pen without -p).
  explicit PidFile(std::string path) : path_(std::move(path)) {}
  // Removes the file if write() created it: through its directory, opened at
  // write(), so a chroot since (-j) cannot make the path name another file.
  // After -u the user may lack the right to: then a warning, and it stays.
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  // Writes this process's id atomically. A failure is logged, not fatal: Pen
  // runs on without its pid file too.
  void write();

 private:
  const std::string path_;
  bool written_ = false;
  UniqueFd directory_;
};

}  // namespace nib
