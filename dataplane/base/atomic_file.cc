#include "dataplane/base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/base/unique_fd.h"

namespace nib {
namespace {

// "cannot fsync /d/f.tmp: Input/output error (EIO)": errno's text and its name.
Status errno_status(std::string_view what, const std::string& path) {
  int e = errno;
  const char* name = ::strerrorname_np(e);
  return Status::unavailable("cannot " + std::string(what) + " " + path + ": " + std::strerror(e) + " (" +
                             (name != nullptr ? name : std::to_string(e).c_str()) + ")");
}

Status sync_directory(const std::string& path) {
  std::string dir = directory_of(path);
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.valid()) return errno_status("open the directory", dir);
  if (::fsync(dfd.get()) != 0) return errno_status("fsync the directory", dir);
  return {};
}

}  // namespace

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode,
                             const std::function<void(WriteStep)>& after_step) {
  const std::string temp = path + ".tmp";
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd.valid()) return errno_status("create", temp);
    size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("write", temp);
      done += static_cast<size_t>(n);
    }
    if (after_step) after_step(WriteStep::kTempWritten);
    // Without this the rename can reach the disk before the data: a crash
    // would then leave an empty or partial file under the real name.
    if (::fsync(fd.get()) != 0) return errno_status("fsync", temp);
    if (after_step) after_step(WriteStep::kTempSynced);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) return errno_status("rename " + temp + " to", path);
  if (after_step) after_step(WriteStep::kRenamed);
  // The rename itself lives in the directory: sync it so it survives a crash.
  return sync_directory(path);
}

Status check_writable(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    errno = EISDIR;
    return errno_status("replace", path);
  }
  const std::string temp = path + ".tmp";
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return errno_status("create", temp);
    if (::fsync(fd.get()) != 0) return errno_status("fsync", temp);
  }
  if (::unlink(temp.c_str()) != 0) return errno_status("remove", temp);
  return sync_directory(path);
}

}  // namespace nib
