#pragma once
// nib-logd serve's loop (issue 14; Pen's penlogd): one UDP socket that nib
// and the web servers' penlog send their lines to, a LiveMerger that puts the
// clients back, and the output (stdout or a file). poll() waits on the socket
// and a signalfd, its timeout the next waiting line's deadline, so a signal
// can never slip in between a check and the wait:
//   SIGHUP           reopen the output file (after logrotate renamed it)
//   SIGTERM, SIGINT  write the waiting lines unchanged and return
// It stays in the foreground (penlogd's -f); a service manager runs it.
//
// Thread contract: open() and run() on one thread, before any other thread
// is started: the signals are blocked in the calling thread (the whole
// process when it has one thread), and the destructor unblocks them.
#include <signal.h>

#include <memory>
#include <ostream>
#include <string>

#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/net/socket_address.h"
#include "server/logd/live_merger.h"

namespace nib {

class LogdServer {
 public:
  struct Options {
    SocketAddress listen;
    std::string output;  // empty: stdout
    LiveMerger::Options merger;
  };

  // Binds the socket, opens the output (appending: a restart loses nothing),
  // blocks the signals into the signalfd. Warnings go to `err`.
  [[nodiscard]] static Result<std::unique_ptr<LogdServer>> open(const Options& options, const Clock& clock,
                                                                 std::ostream& err);
  ~LogdServer();
  LogdServer(const LogdServer&) = delete;
  LogdServer& operator=(const LogdServer&) = delete;

  // The bound address (the port the kernel chose for port 0).
  const SocketAddress& local_address() const { return local_; }
  // Until SIGTERM or SIGINT. An error only when poll() itself fails.
  [[nodiscard]] Status run();
  const LiveMerger::Report& report() const { return merger_.report(); }

 private:
  LogdServer(const Options& options, const Clock& clock, std::ostream& err);

  [[nodiscard]] Status bind_socket();
  [[nodiscard]] Status open_output();
  [[nodiscard]] Status block_signals();
  void receive_all();
  // false once asked to stop.
  bool handle_signals();
  void reopen_output();
  void write_line(std::string_view line);

  Options options_;
  std::ostream& err_;
  LiveMerger merger_;
  SocketAddress local_;
  UniqueFd socket_;
  UniqueFd out_;
  UniqueFd signals_;
  sigset_t old_mask_{};
  bool blocked_ = false;
  bool write_failing_ = false;
};

}  // namespace nib
