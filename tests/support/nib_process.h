#pragma once
// The real nib binary (NIB_BINARY) as a child process, its stdout and stderr
// captured by a reader thread. Whatever a test starts is killed and reaped by
// the destructor.
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"

namespace nib::test {

// The nib binary the tests run, and whether it exists yet.
const char* nib_binary();
bool nib_binary_exists();

class NibProcess {
 public:
  // args exclude argv[0]. An error when the binary cannot be executed.
  static Result<std::unique_ptr<NibProcess>> start(const std::vector<std::string>& args);
  // Any program: for tests that need a helper process.
  static Result<std::unique_ptr<NibProcess>> start_program(const std::string& path,
                                                           const std::vector<std::string>& args);
  ~NibProcess();  // SIGKILL (whole process group) if still running, reap, join
  NibProcess(const NibProcess&) = delete;
  NibProcess& operator=(const NibProcess&) = delete;

  int pid() const { return pid_; }
  // Sends sig to the process (not its group). An error once it was reaped.
  Status signal(int sig);
  // The exit code, or -signal when killed by one; nullopt on timeout.
  std::optional<int> wait_exit(Duration timeout);
  bool running();

  // stdout and stderr so far, in arrival order.
  std::string output() const;
  std::string stdout_output() const;
  std::string stderr_output() const;
  // Waits (without sleeping: the reader thread signals) until output contains needle.
  bool wait_for_output(std::string_view needle, Duration timeout);
  // Waits until both pipes reached EOF: all output is in.
  bool wait_output_closed(Duration timeout);

 private:
  NibProcess() = default;
  void read_pipes();
  bool try_reap(int options);

  pid_t pid_ = -1;
  std::mutex wait_mu_;  // serialises waitpid and signals against reaping
  std::optional<int> exit_code_;
  UniqueFd pidfd_;  // poll()able exit notification

  UniqueFd out_pipe_;
  UniqueFd err_pipe_;
  UniqueFd stop_reader_;  // eventfd: the destructor ends the reader thread
  std::thread reader_;
  mutable std::mutex out_mu_;
  std::condition_variable out_cv_;
  std::string output_;
  std::string stdout_;
  std::string stderr_;
  bool pipes_closed_ = false;
};

struct RunResult {
  int exit_code;  // -signal when killed; 127 when nib could not be started
  std::string output;
};
// Runs nib to completion; after timeout it is killed (exit_code -SIGKILL).
RunResult run_nib(const std::vector<std::string>& args, Duration timeout = std::chrono::seconds(10));

// nib with `args` (which should say -f and -p pid_file), ready once its pid
// file is written (after bind); null, with a test failure, when it exits
// first or takes over 10 s.
std::unique_ptr<NibProcess> start_until_pid_file(const std::vector<std::string>& args, const std::string& pid_file);
// nib -f -p `pid_file` `args` (Pen's command line without -f would
// daemonize, out of the test's reach): start_until_pid_file's wait.
std::unique_ptr<NibProcess> start_foreground(std::vector<std::string> args, const std::string& pid_file);
// The same inside network namespace `netns` (`ip netns exec` execs nib: the
// process is nib's own).
std::unique_ptr<NibProcess> start_foreground_in(const std::string& netns, std::vector<std::string> args,
                                                const std::string& pid_file);

// A port that was free a moment ago on 127.0.0.1 (callers accept the race).
uint16_t free_port();

// The lines of a /proc/PID/status or /proc/PID/task/TID/status, by key
// ("Uid", "CapEff", ...); empty when it cannot be read.
std::map<std::string, std::string> proc_status(const std::string& status_path);

}  // namespace nib::test
