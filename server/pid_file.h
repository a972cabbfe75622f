#pragma once
// -p FILE: the process id, written once nib is ready (scripts and tests take
// the file as "listening"), removed when nib is gone. Declared before the
// running components in App::serve(), so it is removed after they all stopped:
// a script that restarts nib once the file disappears finds the ports free.
#include <string>

namespace nib {

class PidFile {
 public:
  // Empty path: no file (Pen without -p).
  explicit PidFile(std::string path) : path_(std::move(path)) {}
  ~PidFile();  // removes the file if write() created it
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  // Writes this process's id atomically. A failure is logged, not fatal: Pen
  // runs on without its pid file too.
  void write();

 private:
  const std::string path_;
  bool written_ = false;
};

}  // namespace nib
