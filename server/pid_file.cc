#include "server/pid_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/base/atomic_file.h"
#include "dataplane/base/log.h"

namespace nib {

PidFile::~PidFile() {
  if (!written_) return;
  const std::string name = path_.substr(path_.rfind('/') + 1);  // npos + 1 == 0: a bare name
  const int dir = directory_.valid() ? directory_.get() : AT_FDCWD;
  if (::unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
    log_warn("cannot remove pid file " + path_ + ": " + std::strerror(errno) +
             " (with -u its directory must be writable by the user for nib to remove it)");
  }
}

void PidFile::write() {
  if (path_.empty()) return;
  if (Status st = write_file_atomically(path_, std::to_string(::getpid()) + "\n", 0644); !st.ok()) {
    log_error("cannot write pid file " + path_ + ": " + st.message());
    return;
  }
  written_ = true;
  directory_ = UniqueFd(::open(directory_of(path_).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

}  // namespace nib
