#include "server/pid_file.h"

#include <unistd.h>

#include "dataplane/base/atomic_file.h"
#include "dataplane/base/log.h"

namespace nib {

PidFile::~PidFile() {
  if (written_) ::unlink(path_.c_str());
}

void PidFile::write() {
  if (path_.empty()) return;
  if (Status st = write_file_atomically(path_, std::to_string(::getpid()) + "\n", 0644); !st.ok()) {
    log_error("cannot write pid file " + path_ + ": " + st.message());
    return;
  }
  written_ = true;
}

}  // namespace nib
