#include "admin/penctl/penctl_listener.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <vector>

#include "admin/common/admin_plane_stats.h"
#include "admin/common/bounded_worker_pool.h"
#include "dataplane/base/log.h"
#include "dataplane/event/event_loop.h"

namespace nib::admin {
namespace {

// An accept() that fails (out of descriptors) is retried after this, not in a
// hot loop.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr size_t kReadChunk = 4096;
// A failed command's reset waits this long at most for the peer to take the
// error line (a reset discards what is still unacknowledged), in steps.
constexpr auto kResetWait = std::chrono::milliseconds(200);
constexpr auto kResetWaitStep = std::chrono::milliseconds(2);

std::string seconds_text(double s) {
  std::string t = std::to_string(s);
  t.erase(t.find_last_not_of('0') + 1);
  if (t.back() == '.') t.pop_back();
  return t;
}

}  // namespace

class PenctlListener::Loop final : public EventHandler {
 public:
  Loop(UniqueFd listener, PenctlLimits limits, AdminPlaneStats* stats, Admit admit, Execute execute)
      : listener_(std::move(listener)),
        limits_(limits),
        stats_(stats ? *stats : own_stats_),
        admit_(std::move(admit)),
        execute_(std::move(execute)),
        accept_pause_([this] { resume_accepting(); }),
        commands_(1, limits_.max_connections) {}

  ~Loop() override { stop(); }

  Status start() {
    if (Status st = loop_.init(); !st.ok()) return st;
    if (Status st = loop_.add(listener_.get(), EPOLLIN, this); !st.ok()) return st;
    thread_ = std::thread([this] { loop_.run([this] { graveyard_.clear(); }); });
    return {};
  }

  void stop() {
    if (!thread_.joinable()) return;
    commands_.stop();  // a running command finishes; its reply is posted to the loop, which drops it
    loop_.stop();
    thread_.join();
    graveyard_.clear();
    connections_.clear();  // closes every client, whatever it was doing
  }

 private:
  class Connection;

  // The listening socket is ready.
  void on_event(uint32_t) override {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      UniqueFd fd(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd.valid()) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) pause_accepting(errno);
        return;
      }
      accept_failing_ = false;
      // control_acl: a refused client is closed at once, without a word, as Pen does.
      if (!admit_(SocketAddress(reinterpret_cast<sockaddr*>(&ss), len))) continue;
      if (connections_.size() >= limits_.max_connections) {
        stats_.hit(AdminLimitId::kPenctlMaxConnections);
        refuse(fd);
        continue;
      }
      open(std::move(fd));
    }
  }

  // Best effort, without waiting: what the client sent already is read away
  // (closing over unread bytes would reset the connection, and the client
  // could lose the reply), then the reply, then close.
  static void refuse(const UniqueFd& fd) {
    static const std::string kBusy = "error: too many control connections are open; try again\n";
    char buf[kReadChunk];
    while (::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    (void)!::send(fd.get(), kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(fd.get(), SHUT_WR);
  }

  void pause_accepting(int err) {
    if (!accept_failing_) log_warn(std::string("control port: accept failed: ") + std::strerror(err) + "; retrying");
    accept_failing_ = true;
    (void)loop_.modify(listener_.get(), 0, this);
    loop_.arm(accept_pause_, loop_.now() + kAcceptPause);
  }
  void resume_accepting() { (void)loop_.modify(listener_.get(), EPOLLIN, this); }

  void open(UniqueFd fd);
  // The connection is done: closed now, freed after the batch.
  void close(Connection* c);
  // Runs the command on the command thread; its reply comes back to the loop.
  void run(Connection* c, std::string line);
  // The loop again: the reply, if its connection still waits for it.
  void deliver(uint64_t id, PenctlReply reply);

  EventLoop loop_;
  UniqueFd listener_;
  const PenctlLimits limits_;
  AdminPlaneStats own_stats_;
  AdminPlaneStats& stats_;
  const Admit admit_;
  const Execute execute_;
  Timer accept_pause_;
  bool accept_failing_ = false;  // one log line per burst of accept errors
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::unordered_map<uint64_t, Connection*> by_id_;  // for replies coming back from the command thread
  uint64_t next_id_ = 1;
  std::vector<std::unique_ptr<Connection>> graveyard_;  // freed after each batch
  std::thread thread_;
  // Commands run here, off the loop: a change waits for its durable write
  // (fsync), and a status page takes a while; the loop keeps serving the other
  // connections meanwhile. One thread, as Pen runs one command at a time; at
  // most one command per connection waits. Last: stopped first.
  BoundedWorkerPool commands_;
};

// One client: reading its command line, then writing the reply.
class PenctlListener::Loop::Connection final : public EventHandler {
 public:
  Connection(Loop& owner, UniqueFd fd, uint64_t id)
      : id_(id),
        owner_(owner),
        fd_(std::move(fd)),
        deadline_([this] { on_deadline(); }),
        reset_wait_([this] { reset_when_delivered(); }),
        held_(owner.stats_, AdminGauge::kPenctlConnections) {}

  Status start() {
    owner_.loop_.arm(deadline_, owner_.loop_.now() + seconds_to_duration(owner_.limits_.command_timeout_seconds));
    return owner_.loop_.add(fd_.get(), EPOLLIN | EPOLLRDHUP, this);
  }

  // Before the free: nothing of the loop points here any more.
  void detach() {
    owner_.loop_.cancel(deadline_);
    owner_.loop_.cancel(reset_wait_);
    owner_.loop_.remove(fd_.get());
  }

  uint64_t id() const { return id_; }
  bool waiting() const { return running_ && !writing_; }

  // The loop thread: the reply, then close.
  void reply(PenctlReply r) {
    running_ = false;
    writing_ = true;
    out_ = std::move(r.text);
    failed_ = r.failed;
    line_.clear();
    line_.shrink_to_fit();
    if (!owner_.loop_.modify(fd_.get(), EPOLLOUT, this).ok()) return owner_.close(this);
    if (!deadline_.armed()) {
      owner_.loop_.arm(deadline_, owner_.loop_.now() + seconds_to_duration(owner_.limits_.command_timeout_seconds));
    }
    write_more();
  }

  void on_event(uint32_t events) override {
    if (running_) {
      // Nothing is read while the command runs (the descriptor listens for
      // nothing); only a hang-up or error still reports: the client is gone,
      // and its reply will find no connection.
      if (events & (EPOLLERR | EPOLLHUP)) owner_.close(this);
      return;
    }
    if (writing_) {
      if (events & (EPOLLERR | EPOLLHUP)) return owner_.close(this);
      return write_more();
    }
    read_more();
  }

 private:
  void read_more() {
    const size_t max = owner_.limits_.max_line_bytes;
    for (;;) {
      // Never more than one byte past the cap: enough to know the line is too long.
      size_t room = max + 1 - line_.size();
      char buf[kReadChunk];
      ssize_t n = ::recv(fd_.get(), buf, std::min(room, sizeof buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0) return owner_.close(this);
      if (n == 0) return run_command();  // the client's end of sending ends the command too
      size_t before = line_.size();
      line_.append(buf, static_cast<size_t>(n));
      if (size_t nl = line_.find('\n', before); nl != std::string::npos) {
        line_.resize(nl);
        return run_command();
      }
      if (line_.size() > max) {
        owner_.stats_.hit(AdminLimitId::kPenctlMaxLineBytes);
        return reply({"error: the command line is longer than " + std::to_string(max) + " bytes\n", true});
      }
    }
  }

  void run_command() {
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    running_ = true;
    (void)owner_.loop_.modify(fd_.get(), 0, this);
    owner_.run(this, std::move(line_));
  }

  void on_deadline() {
    if (writing_) return owner_.close(this);  // the client does not read its reply
    if (running_) {
      // The command goes on (a change is applied and will be kept); the
      // client is told it did not see the end of it.
      return reply({"error: the command did not finish within " +
                        seconds_text(owner_.limits_.command_timeout_seconds) + " s; it may still take effect\n",
                    true});
    }
    owner_.stats_.hit(AdminLimitId::kPenctlCommandTimeout);
    reply({"error: no complete command line within " + seconds_text(owner_.limits_.command_timeout_seconds) + " s\n",
           true});
  }

  void write_more() {
    while (sent_ < out_.size()) {
      ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // EPOLLOUT calls again
      if (n < 0) return owner_.close(this);
      sent_ += static_cast<size_t>(n);
    }
    if (failed_) {
      (void)owner_.loop_.modify(fd_.get(), 0, this);
      reset_from_ = owner_.loop_.now();
      return reset_when_delivered();
    }
    ::shutdown(fd_.get(), SHUT_WR);
    owner_.close(this);
  }

  // A failed command: once the peer has acknowledged the error line (or after
  // kResetWait), close with a reset. Polled on a timer, never blocking the loop.
  void reset_when_delivered() {
    int unacked = 0;
    if (::ioctl(fd_.get(), SIOCOUTQ, &unacked) == 0 && unacked > 0 &&
        owner_.loop_.now() - reset_from_ < kResetWait) {
      owner_.loop_.arm(reset_wait_, owner_.loop_.now() + kResetWaitStep);
      return;
    }
    linger reset{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    owner_.close(this);
  }

  const uint64_t id_;
  Loop& owner_;
  UniqueFd fd_;
  Timer deadline_;
  Timer reset_wait_;
  AdminGaugeHold held_;
  std::string line_;
  std::string out_;
  size_t sent_ = 0;
  bool running_ = false;  // the command thread has the line
  bool writing_ = false;
  bool failed_ = false;  // reset after the reply (see PenctlReply)
  MonoTime reset_from_{};
};

void PenctlListener::Loop::open(UniqueFd fd) {
  auto c = std::make_unique<Connection>(*this, std::move(fd), next_id_++);
  Connection* raw = c.get();
  connections_.emplace(raw, std::move(c));
  by_id_.emplace(raw->id(), raw);
  if (!raw->start().ok()) close(raw);
}

void PenctlListener::Loop::close(Connection* c) {
  auto it = connections_.find(c);
  if (it == connections_.end()) return;
  by_id_.erase(c->id());
  c->detach();
  graveyard_.push_back(std::move(it->second));
  connections_.erase(it);
}

void PenctlListener::Loop::run(Connection* c, std::string line) {
  const uint64_t id = c->id();
  bool queued = commands_.try_submit([this, id, line = std::move(line)] {
    PenctlReply reply = execute_(line);
    loop_.post([this, id, reply = std::move(reply)]() mutable { deliver(id, std::move(reply)); });
  });
  // Cannot happen while connections are capped at the queue's size; if it
  // does, the client is told rather than left waiting.
  if (!queued) c->reply({"error: the control port is busy; try again\n", true});
}

void PenctlListener::Loop::deliver(uint64_t id, PenctlReply reply) {
  auto it = by_id_.find(id);
  if (it == by_id_.end() || !it->second->waiting()) return;  // closed, or timed out meanwhile
  it->second->reply(std::move(reply));
}

PenctlListener::PenctlListener(UniqueFd listener, PenctlLimits limits, AdminPlaneStats* stats, Admit admit,
                               Execute execute)
    : loop_(std::make_unique<Loop>(std::move(listener), limits, stats, std::move(admit), std::move(execute))) {}

PenctlListener::~PenctlListener() { stop(); }

Status PenctlListener::start() { return loop_->start(); }

void PenctlListener::stop() { loop_->stop(); }

}  // namespace nib::admin
