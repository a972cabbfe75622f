#include "server/logd/logd_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace nib {
namespace {

// Datagrams read per wake-up before the signalfd and the deadlines get a turn.
constexpr int kReadsPerWake = 256;
// penlog and nib send a burst at a time; a larger buffer than the default
// keeps the kernel from dropping them while a line is written. Best effort.
constexpr int kReceiveBuffer = 4 << 20;

Status errno_status(const std::string& what) { return Status::unavailable(what + ": " + std::strerror(errno)); }

int poll_timeout_ms(std::optional<Duration> until_next) {
  if (!until_next) return -1;
  // Rounded up: waking a little early would only poll again.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(*until_next).count();
  return ms < 0 ? 0 : static_cast<int>(std::min<int64_t>(ms, 60'000));
}

}  // namespace

LogdServer::LogdServer(const Options& options, const Clock& clock, std::ostream& err)
    : options_(options),
      err_(err),
      merger_(options.merger, clock, [this](std::string_view line) { write_line(line); },
              [this](std::string_view warning) { err_ << warning << std::endl; }) {}

Result<std::unique_ptr<LogdServer>> LogdServer::open(const Options& options, const Clock& clock, std::ostream& err) {
  std::unique_ptr<LogdServer> server(new LogdServer(options, clock, err));
  Status st = server->open_output();
  if (st.ok()) st = server->bind_socket();
  if (st.ok()) st = server->block_signals();
  if (!st.ok()) return st;
  return server;
}

LogdServer::~LogdServer() {
  if (blocked_) ::pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

Status LogdServer::bind_socket() {
  socket_ = UniqueFd(::socket(options_.listen.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket_) return errno_status("socket");
  (void)::setsockopt(socket_.get(), SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);  // best effort
  if (::bind(socket_.get(), options_.listen.sockaddr_ptr(), options_.listen.length()) != 0) {
    return errno_status("bind " + options_.listen.to_string());
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(socket_.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) return errno_status("getsockname");
  local_ = SocketAddress(reinterpret_cast<sockaddr*>(&bound), len);
  return Status();
}

Status LogdServer::open_output() {
  if (options_.output.empty()) {
    out_ = UniqueFd(::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
    return out_ ? Status() : errno_status("stdout");
  }
  out_ = UniqueFd(::open(options_.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  return out_ ? Status() : errno_status(options_.output + ": cannot open");
}

Status LogdServer::block_signals() {
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&mask, sig);
  if (::pthread_sigmask(SIG_BLOCK, &mask, &old_mask_) != 0) return Status::internal("pthread_sigmask failed");
  blocked_ = true;
  signals_ = UniqueFd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  return signals_ ? Status() : errno_status("signalfd");
}

Status LogdServer::run() {
  for (;;) {
    std::array<pollfd, 2> fds{{{socket_.get(), POLLIN, 0}, {signals_.get(), POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), poll_timeout_ms(merger_.expire())) < 0) {
      if (errno == EINTR) continue;
      return errno_status("poll");
    }
    if (fds[0].revents & POLLIN) receive_all();
    if ((fds[1].revents & POLLIN) && !handle_signals()) break;
  }
  merger_.flush();
  return Status();
}

void LogdServer::receive_all() {
  static thread_local std::array<char, 65536> buf;
  for (int i = 0; i < kReadsPerWake; ++i) {
    sockaddr_storage from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(socket_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) return;  // EAGAIN: drained (other errors of a UDP socket concern one datagram)
    merger_.receive(std::string_view(buf.data(), static_cast<size_t>(n)),
                    SocketAddress(reinterpret_cast<sockaddr*>(&from), len));
  }
}

bool LogdServer::handle_signals() {
  signalfd_siginfo info{};
  bool keep_going = true;
  while (::read(signals_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (info.ssi_signo == SIGHUP) {
      reopen_output();
    } else {
      keep_going = false;
    }
  }
  return keep_going;
}

void LogdServer::reopen_output() {
  if (options_.output.empty()) return;  // stdout: nothing to rotate
  UniqueFd fresh(::open(options_.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (!fresh) {
    // Keep writing to the old file: a line there beats a line lost.
    err_ << "nib-logd: " << options_.output << ": cannot reopen: " << std::strerror(errno) << "; keeping the old file"
         << std::endl;
    return;
  }
  out_ = std::move(fresh);
  err_ << "nib-logd: reopened " << options_.output << std::endl;
}

void LogdServer::write_line(std::string_view line) {
  std::string text(line);
  text.push_back('\n');
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(out_.get(), text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!write_failing_) err_ << "nib-logd: writing failed: " << std::strerror(errno) << "; lines are lost" << std::endl;
      write_failing_ = true;
      return;
    }
    off += static_cast<size_t>(n);
  }
  if (write_failing_) err_ << "nib-logd: writing again" << std::endl;
  write_failing_ = false;
}

}  // namespace nib
