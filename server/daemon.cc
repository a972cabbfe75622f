#include "server/daemon.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/base/log.h"

namespace nib {
namespace {

constexpr char kReady = 'R';
constexpr int kExitFailed = 2;

// Parent: the child's verdict. Its error lines went to our stderr, which it
// shares until ready().
[[noreturn]] void wait_for_child(pid_t child, UniqueFd ready) {
  char byte = 0;
  ssize_t n;
  do {
    n = ::read(ready.get(), &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1 && byte == kReady) ::_exit(0);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(child, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == child && WIFEXITED(status)) ::_exit(WEXITSTATUS(status));
  ::_exit(kExitFailed);
}

}  // namespace

Result<Daemon> Daemon::detach() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Status::internal(std::string("pipe: ") + std::strerror(errno));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Status::internal(std::string("fork: ") + std::strerror(errno));
  if (pid > 0) {
    write_end.reset();  // only the child's copy: its exit alone ends our read
    wait_for_child(pid, std::move(read_end));
  }
  read_end.reset();
  ::setsid();  // no controlling terminal: a closed shell's SIGHUP does not reach us
  Log::connect_syslog();
  return Daemon(std::move(write_end), UniqueFd(::open("/dev/null", O_RDWR | O_CLOEXEC)));
}

void Daemon::ready() {
  if (!ready_) return;
  Log::use_syslog();
  if (null_) {
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null_.get(), fd);
  }
  null_.reset();
  ssize_t n;
  do {
    n = ::write(ready_.get(), &kReady, 1);
  } while (n < 0 && errno == EINTR);
  ready_.reset();
}

}  // namespace nib
