#include "tests/support/nib_process.h"

#include "tests/support/dataplane_fixture.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "dataplane/net/socket_address.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_client.h"

#ifndef NIB_BINARY
#define NIB_BINARY "nib"
#endif

namespace nib::test {
namespace {

int poll_ms(MonoTime deadline) {
  auto left = deadline - MonoClock::now();
  if (left <= Duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, 1 << 30));
}

int decode_wait_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

const char* nib_binary() { return NIB_BINARY; }

bool nib_binary_exists() { return ::access(NIB_BINARY, X_OK) == 0; }

Result<std::unique_ptr<NibProcess>> NibProcess::start(const std::vector<std::string>& args) {
  // Without -f, Pen's command line forks nib into a session of its own, which
  // this object could neither watch nor kill: a leak past the test run.
  auto has = [&](std::string_view a) { return std::find(args.begin(), args.end(), a) != args.end(); };
  if (!has("-f") && !has("--config") && !has("--demo")) {
    return Status(StatusCode::kFailedPrecondition,
                  "NibProcess::start: Pen's command line without -f would put nib in the background, out of the "
                  "test's reach; pass -f (run_nib and a guard of its own for background tests)");
  }
  // NIB_TEST_RELAY=sockmap: every nib a test starts relays in the kernel.
  if (test_relay_mode() == RelayMode::kSockmap && !has("--relay")) {
    std::vector<std::string> with = {"--relay", "sockmap"};
    with.insert(with.end(), args.begin(), args.end());
    return start_program(NIB_BINARY, with);
  }
  return start_program(NIB_BINARY, args);
}

Result<std::unique_ptr<NibProcess>> NibProcess::start_program(const std::string& path,
                                                              const std::vector<std::string>& args) {
  // Everything the child needs is prepared before fork(): after it, in a
  // threaded process, only async-signal-safe calls are allowed.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(path);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2], err[2], exec_err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return Status::internal("pipe2 failed");
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return Status::internal("pipe2 failed");
  UniqueFd err_r(err[0]), err_w(err[1]);
  // Carries errno from a failed execv(); closed by a successful one.
  if (::pipe2(exec_err, O_CLOEXEC) != 0) return Status::internal("pipe2 failed");
  UniqueFd exec_r(exec_err[0]), exec_w(exec_err[1]);
  UniqueFd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!dev_null || !stop) return Status::internal("open /dev/null or eventfd failed");

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Status::internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // If the test binary dies (crash, timeout kill), nib must not outlive it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // Own process group: the destructor kills whatever nib forked too.
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) ::sigaction(s, &dfl, nullptr);
    ::dup2(dev_null.get(), 0);
    ::dup2(out_w.get(), 1);
    ::dup2(err_w.get(), 2);
    // Fds the test opened without CLOEXEC (a backend's listener...) must not
    // leak into nib, or stopping them in the test would not really stop them.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execv(argv[0], argv.data());
    int e = errno;
    ssize_t ignored = ::write(exec_w.get(), &e, sizeof e);
    (void)ignored;
    ::_exit(127);
  }
  exec_w.reset();
  out_w.reset();
  err_w.reset();
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_r.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int status;
    ::waitpid(pid, &status, 0);
    return Status::unavailable("exec " + path + ": " + std::strerror(child_errno));
  }

  std::unique_ptr<NibProcess> p(new NibProcess());
  p->pid_ = pid;
  // Via syscall(): glibc 2.36's <sys/pidfd.h> lacks extern "C" for C++.
  // -1 on old kernels: wait_exit polls then.
  p->pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  ::fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
  ::fcntl(err_r.get(), F_SETFL, O_NONBLOCK);
  p->out_pipe_ = std::move(out_r);
  p->err_pipe_ = std::move(err_r);
  p->stop_reader_ = std::move(stop);
  p->reader_ = std::thread([raw = p.get()] { raw->read_pipes(); });
  return p;
}

NibProcess::~NibProcess() {
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    // The group goes even when nib itself is gone: it may have left children.
    ::kill(-pid_, SIGKILL);
    if (!exit_code_) {
      ::kill(pid_, SIGKILL);
      int status;
      pid_t r;
      do {
        r = ::waitpid(pid_, &status, 0);
      } while (r < 0 && errno == EINTR);
      exit_code_ = r == pid_ ? decode_wait_status(status) : -1;
    }
  }
  uint64_t one = 1;
  ssize_t ignored = ::write(stop_reader_.get(), &one, sizeof one);
  (void)ignored;
  if (reader_.joinable()) reader_.join();
}

void NibProcess::read_pipes() {
  pollfd fds[3] = {{out_pipe_.get(), POLLIN, 0}, {err_pipe_.get(), POLLIN, 0},
                   {stop_reader_.get(), POLLIN, 0}};
  bool stopping = false;
  for (;;) {
    bool open = fds[0].fd >= 0 || fds[1].fd >= 0;
    if (!open) break;
    // After a stop request: one last non-blocking drain.
    int rc = ::poll(fds, 3, stopping ? 0 : -1);
    if (rc < 0 && errno != EINTR) break;
    if (rc == 0 && stopping) break;
    if (fds[2].revents & POLLIN) stopping = true;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[8192];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        std::lock_guard<std::mutex> lock(out_mu_);
        output_.append(buf, static_cast<size_t>(n));
        (i == 0 ? stdout_ : stderr_).append(buf, static_cast<size_t>(n));
        out_cv_.notify_all();
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        fds[i].fd = -1;  // poll ignores negative fds
      }
    }
  }
  std::lock_guard<std::mutex> lock(out_mu_);
  pipes_closed_ = true;
  out_cv_.notify_all();
}

bool NibProcess::try_reap(int options) {
  if (exit_code_) return true;
  int status;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, options);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_code_ = decode_wait_status(status);
    return true;
  }
  return false;
}

Status NibProcess::signal(int sig) {
  std::lock_guard<std::mutex> lock(wait_mu_);
  // Until reaped the pid cannot be reused, so this never hits a stranger.
  if (exit_code_) return Status(StatusCode::kFailedPrecondition, "process already exited");
  if (::kill(pid_, sig) != 0) return Status::internal(std::string("kill: ") + std::strerror(errno));
  return {};
}

bool NibProcess::running() {
  std::lock_guard<std::mutex> lock(wait_mu_);
  return !try_reap(WNOHANG);
}

std::optional<int> NibProcess::wait_exit(Duration timeout) {
  MonoTime deadline = MonoClock::now() + timeout;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(wait_mu_);
      if (try_reap(WNOHANG)) return exit_code_;
    }
    if (MonoClock::now() >= deadline) return std::nullopt;
    if (pidfd_) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      ::poll(&p, 1, poll_ms(deadline));
    } else {
      ::poll(nullptr, 0, std::min(poll_ms(deadline), 5));
    }
  }
}

std::string NibProcess::output() const {
  std::lock_guard<std::mutex> lock(out_mu_);
  return output_;
}

std::string NibProcess::stdout_output() const {
  std::lock_guard<std::mutex> lock(out_mu_);
  return stdout_;
}

std::string NibProcess::stderr_output() const {
  std::lock_guard<std::mutex> lock(out_mu_);
  return stderr_;
}

bool NibProcess::wait_for_output(std::string_view needle, Duration timeout) {
  std::unique_lock<std::mutex> lock(out_mu_);
  return out_cv_.wait_for(lock, timeout, [&] {
    return output_.find(needle) != std::string::npos || pipes_closed_;
  }) && output_.find(needle) != std::string::npos;
}

bool NibProcess::wait_output_closed(Duration timeout) {
  std::unique_lock<std::mutex> lock(out_mu_);
  return out_cv_.wait_for(lock, timeout, [&] { return pipes_closed_; });
}

RunResult run_nib(const std::vector<std::string>& args, Duration timeout) {
  // Background starts are allowed here: the command returns once nib is ready
  // (or failed), and such a test guards the background process itself.
  auto p = NibProcess::start_program(NIB_BINARY, args);
  if (!p.ok()) return {127, p.status().message()};
  NibProcess& proc = **p;
  auto code = proc.wait_exit(timeout);
  std::string note;
  if (!code) {
    // An error only when it exited meanwhile: the wait below reaps it either way.
    (void)proc.signal(SIGKILL);
    code = proc.wait_exit(std::chrono::seconds(5));
    note = "\n[run_nib: killed after the timeout]\n";
  }
  // The output may still be in the pipes when the exit is seen.
  proc.wait_output_closed(std::chrono::seconds(2));
  return {code.value_or(-SIGKILL), proc.output() + note};
}

namespace {

std::unique_ptr<NibProcess> wait_for_pid_file(Result<std::unique_ptr<NibProcess>> p, const std::string& pid_file) {
  EXPECT_TRUE(p.ok()) << p.status().message();
  if (!p.ok()) return nullptr;
  bool up = wait_until([&] { return read_file(pid_file).ok() || !(*p)->running(); }, std::chrono::seconds(10));
  EXPECT_TRUE(up && (*p)->running()) << (*p)->output();
  return std::move(*p);
}

}  // namespace

std::unique_ptr<NibProcess> start_until_pid_file(const std::vector<std::string>& args, const std::string& pid_file) {
  return wait_for_pid_file(NibProcess::start(args), pid_file);
}

namespace {

// True when nothing holds `port` on 127.0.0.1 for TCP or for UDP.
bool bindable(uint16_t port) {
  auto addr = SocketAddress::from_ip("127.0.0.1", port);
  for (int type : {SOCK_STREAM, SOCK_DGRAM}) {
    UniqueFd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    if (!fd || ::bind(fd.get(), addr->sockaddr_ptr(), addr->length()) != 0) return false;
  }
  return true;
}

}  // namespace

// Below the kernel's ephemeral range (32768 and up by default): a port the
// kernel handed out for bind(0) can be taken by any test's next outgoing
// connection before nib binds it, and ctest runs many suites at once. Here
// only another test's free_port() could pick the same port, and each
// process walks the range from its own random start.
std::unique_ptr<NibProcess> start_foreground(std::vector<std::string> args, const std::string& pid_file) {
  args.insert(args.begin(), {"-f", "-p", pid_file});
  return start_until_pid_file(args, pid_file);
}

std::unique_ptr<NibProcess> start_foreground_in(const std::string& netns, std::vector<std::string> args,
                                                const std::string& pid_file) {
  args.insert(args.begin(), {"netns", "exec", netns, nib_binary(), "-f", "-p", pid_file});
  return wait_for_pid_file(NibProcess::start_program("/bin/ip", args), pid_file);
}

uint16_t free_port() {
  constexpr uint16_t kFirst = 20000, kCount = 12000;
  static std::atomic<uint32_t> next{static_cast<uint32_t>(std::random_device{}())};
  for (int tries = 0; tries < kCount; ++tries) {
    const auto port = static_cast<uint16_t>(kFirst + next.fetch_add(1, std::memory_order_relaxed) % kCount);
    if (bindable(port)) return port;
  }
  return 0;
}

std::map<std::string, std::string> proc_status(const std::string& status_path) {
  std::map<std::string, std::string> out;
  std::ifstream in(status_path);
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(":\t");
    if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return out;
}

}  // namespace nib::test
