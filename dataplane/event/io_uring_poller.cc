#include "dataplane/event/io_uring_poller.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace nib {

namespace {

// A cancellation's own completion (success, or ENOENT when the poll it
// named had just completed): nothing to deliver. (IOSQE_CQE_SKIP_SUCCESS
// would spare the success's entry, from 5.17 on; entries cost no call.)
constexpr uint64_t kCancelTag = ~uint64_t{0};
// Flags epoll takes that are not poll events.
constexpr uint32_t kNotPollEvents = EPOLLET | EPOLLEXCLUSIVE | EPOLLONESHOT | EPOLLWAKEUP;

}  // namespace

Result<std::unique_ptr<Poller>> IoUringPoller::create(unsigned entries) {
  std::unique_ptr<IoUringPoller> p(new IoUringPoller());
  io_uring_params params{};
  // Completions are run when the loop enters the kernel anyway (no
  // interrupting task work); a bad entry does not stop the others behind it.
  params.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
  int rc = io_uring_queue_init_params(entries, &p->ring_, &params);
  if (rc == -EINVAL) {  // an older kernel without those flags
    params = io_uring_params{};
    rc = io_uring_queue_init_params(entries, &p->ring_, &params);
  }
  if (rc < 0) return Status::unavailable(std::string("io_uring_queue_init: ") + std::strerror(-rc));
  p->ring_ready_ = true;
  return std::unique_ptr<Poller>(std::move(p));
}

IoUringPoller::~IoUringPoller() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
}

IoUringPoller::Registration& IoUringPoller::at(int fd) {
  if (static_cast<size_t>(fd) >= regs_.size()) regs_.resize(static_cast<size_t>(fd) + 1024);
  return regs_[static_cast<size_t>(fd)];
}

io_uring_sqe* IoUringPoller::next_sqe() {
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
    io_uring_submit(&ring_);  // the queue is full: hand it to the kernel now
  }
  return nullptr;
}

bool IoUringPoller::arm(int fd, const Registration& r) {
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) return false;
  const unsigned mask = r.events & ~kNotPollEvents;
  if ((r.events & EPOLLET) != 0) {
    io_uring_prep_poll_multishot(sqe, fd, mask);
  } else {
    io_uring_prep_poll_add(sqe, fd, mask);
  }
  io_uring_sqe_set_data64(sqe, tag(fd, r.generation));
  return true;
}

void IoUringPoller::cancel(int fd, const Registration& r) {
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) return;  // the ring takes nothing: the poll ends with the ring
  io_uring_prep_poll_remove(sqe, tag(fd, r.generation));
  io_uring_sqe_set_data64(sqe, kCancelTag);
}

Status IoUringPoller::add(int fd, uint32_t events, EventHandler* handler) {
  if (fd < 0) return Status::invalid("io_uring poll: bad descriptor");
  Registration& r = at(fd);
  if (r.active) return Status::internal("io_uring poll add: " + std::string(std::strerror(EEXIST)));
  r.handler = handler;
  r.events = events;
  ++r.generation;
  r.active = true;
  if (!arm(fd, r)) {
    r.active = false;
    return Status::internal("io_uring poll add: the submission queue is full");
  }
  return {};
}

Status IoUringPoller::modify(int fd, uint32_t events, EventHandler* handler) {
  if (fd < 0 || static_cast<size_t>(fd) >= regs_.size() || !regs_[static_cast<size_t>(fd)].active) {
    return Status::internal("io_uring poll mod: " + std::string(std::strerror(ENOENT)));
  }
  remove(fd);
  return add(fd, events, handler);
}

void IoUringPoller::remove(int fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= regs_.size()) return;
  Registration& r = regs_[static_cast<size_t>(fd)];
  if (!r.active) return;
  cancel(fd, r);
  r.active = false;
  ++r.generation;  // completions already posted for it are ignored
}

int IoUringPoller::wait(int timeout_ms, Ready* out, int max) {
  ++batch_;
  if (io_uring_cq_ready(&ring_) == 0) {
    if (timeout_ms == 0) {
      io_uring_submit(&ring_);
    } else {
      __kernel_timespec ts{};
      ts.tv_sec = timeout_ms / 1000;
      ts.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
      io_uring_cqe* first = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);  // -ETIME, -EINTR: nothing ready
    }
  } else {
    io_uring_submit(&ring_);  // queued changes go in; what is ready is taken below
  }
  int n = 0;
  unsigned head = 0, seen = 0;
  io_uring_cqe* cqe = nullptr;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    if (n == max) break;
    ++seen;
    const uint64_t data = cqe->user_data;
    if (data == kCancelTag) continue;
    const int fd = static_cast<int>(data & 0xffffffffu);
    if (static_cast<size_t>(fd) >= regs_.size()) continue;
    Registration& r = regs_[static_cast<size_t>(fd)];
    if (!r.active || r.generation != static_cast<uint32_t>(data >> 32)) continue;  // dropped since
    uint32_t events;
    if (cqe->res < 0) {
      // The poll itself failed (the descriptor is gone or cannot be
      // polled): the handler learns it as an error, and it is not re-armed.
      events = EPOLLERR | EPOLLHUP;
      r.active = false;
      ++r.generation;
    } else {
      events = static_cast<uint32_t>(cqe->res);
      // A single-shot (level) poll, or a multishot one the kernel ended (CQ
      // overflow): armed again now, so it is in the next submission.
      if ((cqe->flags & IORING_CQE_F_MORE) == 0 && !arm(fd, r)) {
        events |= EPOLLERR;
        r.active = false;
        ++r.generation;
      }
    }
    if (r.batch == batch_) {
      out[r.slot].events |= events;
      continue;
    }
    r.batch = batch_;
    r.slot = n;
    out[n++] = Ready{r.handler, events};
  }
  io_uring_cq_advance(&ring_, seen);
  return n;
}

}  // namespace nib
