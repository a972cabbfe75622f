#include "dataplane/log/access_log.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "dataplane/base/log.h"

namespace nib {
namespace {

Result<UniqueFd> open_destination(const AccessLogConfig& config) {
  if (!config.path.empty()) {
    UniqueFd fd(::open(config.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
    if (!fd) return Status::unavailable("access log " + config.path + ": " + std::strerror(errno));
    return fd;
  }
  auto address = SocketAddress::parse(config.udp);
  if (!address.ok()) {
    return Status::invalid("access log udp destination: expected IP:PORT, got '" + config.udp + "'");
  }
  UniqueFd fd(::socket(address->family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  // Connected: each send() goes there, and an ICMP "port unreachable" from a
  // collector that is down fails one send instead of piling up silently.
  if (!fd || ::connect(fd.get(), address->sockaddr_ptr(), address->length()) != 0) {
    return Status::unavailable("access log udp " + config.udp + ": " + std::strerror(errno));
  }
  return fd;
}

}  // namespace

Result<std::unique_ptr<AccessLog>> AccessLog::open(const AccessLogConfig& config, unsigned producers) {
  if (!config.path.empty() && !config.udp.empty()) {
    return Status::invalid("access log: a path or a udp destination, not both");
  }
  auto format = AccessLineFormat::make(config.format, config.template_text, !config.udp.empty());
  if (!format.ok()) return format.status();
  auto fd = open_destination(config);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<AccessLog> log(new AccessLog(config, std::move(*format), producers));
  log->fd_ = std::move(*fd);
  return log;
}

AccessLog::AccessLog(const AccessLogConfig& config, AccessLineFormat format, unsigned producers)
    : config_(config), format_(std::move(format)), path_(config.path) {
  for (unsigned i = 0; i < producers; ++i) rings_.push_back(std::make_unique<AccessRing>(config.ring_size));
  batch_.reserve(kBatchBytes * 2);
}

AccessLog::~AccessLog() { stop(); }

void AccessLog::start() { thread_ = std::thread([this] { run(); }); }

void AccessLog::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AccessLog::reopen() {
  {
    std::lock_guard lock(mu_);
    reopen_wanted_ = true;
  }
  wake_.notify_one();
}

Status AccessLog::retarget(const std::string& path) {
  if (!to_file()) return Status::invalid("the access log goes to udp:" + config_.udp + "; a file needs a restart");
  AccessLogConfig next = config_;
  next.path = path;
  auto fd = open_destination(next);
  if (!fd.ok()) return fd.status();
  {
    std::lock_guard lock(mu_);
    path_ = path;
    next_fd_ = std::move(*fd);
  }
  wake_.notify_one();
  return {};
}

std::string AccessLog::destination() const {
  std::lock_guard lock(mu_);
  return path_.empty() ? "udp:" + config_.udp : path_;
}

uint64_t AccessLog::lines_dropped() const {
  uint64_t sum = write_failures_.load(std::memory_order_relaxed);
  for (const auto& r : rings_) sum += r->dropped();
  return sum;
}

void AccessLog::run() {
  for (;;) {
    const uint64_t taken = drain_rings();
    std::unique_lock lock(mu_);
    if (next_fd_) {
      fd_ = std::move(next_fd_);  // retarget(): what was taken before went to the old file
      continue;
    }
    if (reopen_wanted_) {
      // Everything taken before the signal went to the old file (drained
      // above); everything after goes to the new one.
      reopen_wanted_ = false;
      lock.unlock();
      reopen_now();
      continue;
    }
    if (stopping_) break;
    if (taken == 0) {
      wake_.wait_for(lock, kPollInterval, [this] { return stopping_ || reopen_wanted_ || next_fd_; });
    }
  }
  // Stopping: the producers are stopped; what they left is written.
  drain_rings();
}

uint64_t AccessLog::drain_rings() {
  uint64_t total = 0, pending = 0;
  for (auto& ring : rings_) {
    total += ring->drain([&](const AccessRecord& r) {
      format_.append(r, batch_);
      ++pending;
      if (batch_.size() >= kBatchBytes) {
        flush(pending);
        pending = 0;
      }
    });
  }
  if (pending != 0) flush(pending);
  return total;
}

void AccessLog::flush(uint64_t lines) {
  bool ok = true;
  int err = 0;
  if (!config_.udp.empty()) {
    // One datagram per line, as Pen sends them: penlogd reads one entry per datagram.
    size_t start = 0;
    uint64_t failed = 0;
    while (start < batch_.size()) {
      size_t end = batch_.find('\n', start);
      if (::send(fd_.get(), batch_.data() + start, end - start + 1, MSG_NOSIGNAL) < 0) {
        ++failed;
        err = errno;
      }
      start = end + 1;
    }
    ok = failed == 0;
    lines_.store(lines_.load(std::memory_order_relaxed) + lines - failed, std::memory_order_relaxed);
    if (!ok) write_failures_.store(write_failures_.load(std::memory_order_relaxed) + failed, std::memory_order_relaxed);
  } else {
    size_t off = 0;
    while (off < batch_.size()) {
      ssize_t n = ::write(fd_.get(), batch_.data() + off, batch_.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
        ok = false;
        break;
      }
      off += static_cast<size_t>(n);
    }
    // A partly written batch counts as lost: its lines cannot be told apart.
    auto& counter = ok ? lines_ : write_failures_;
    counter.store(counter.load(std::memory_order_relaxed) + lines, std::memory_order_relaxed);
  }
  batch_.clear();
  if (!ok && !failing_) {
    log_error("access log " + destination() + ": " + std::strerror(err) +
              "; lines are dropped (nib_access_log_dropped_total) until writes succeed again");
  } else if (ok && failing_) {
    log_info("access log " + destination() + ": writing again");
  }
  failing_ = !ok;
}

void AccessLog::reopen_now() {
  if (!to_file()) return;  // a datagram socket has nothing to rotate
  AccessLogConfig now = config_;
  now.path = destination();
  // The path still names the open file (a reload, not a rotation): keep it.
  // Opening it again could fail where writing to it does not: after -u the
  // user may not open the file root created at start.
  struct stat open_file{}, at_path{};
  if (fd_.valid() && ::fstat(fd_.get(), &open_file) == 0 && ::stat(now.path.c_str(), &at_path) == 0 &&
      open_file.st_dev == at_path.st_dev && open_file.st_ino == at_path.st_ino) {
    log_info("access log " + now.path + " reopened (the same file, kept open)");
    return;
  }
  auto fd = open_destination(now);
  if (!fd.ok()) {
    log_error(fd.status().message() + "; still writing to the file opened before");
    return;
  }
  fd_ = std::move(*fd);
  log_info("access log " + now.path + " reopened");
}

}  // namespace nib
