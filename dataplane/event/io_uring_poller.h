#pragma once
// A Poller on io_uring's poll requests (event_loop: io_uring). Registrations
// are queued as submissions and go to the kernel with the call that waits,
// so adding, changing and dropping a descriptor cost no system call of their
// own (epoll makes one epoll_ctl each). An edge-triggered registration
// (EPOLLET) is a multishot poll: one completion per wake-up, as epoll's edge.
// A level-triggered one is a single-shot poll armed again as its completion
// is taken, before the handler runs: the kernel checks readiness when it
// arms it, so a descriptor still ready completes again, as epoll's level.
//
// Completions carry (generation << 32 | fd): a completion of a registration
// since dropped, or of an earlier descriptor with the same number, finds
// another generation in the table and is ignored. A descriptor has at most
// one entry per batch (completions of one are merged), as with epoll.
//
// Thread contract: every method on the loop thread (or before the loop runs).
#include <liburing.h>

#include <vector>

#include "dataplane/event/poller.h"

namespace nib {

class IoUringPoller final : public Poller {
 public:
  // Fails (ENOSYS, EPERM under a seccomp profile, ENOMEM) when the kernel
  // or its sandbox does not allow io_uring.
  static Result<std::unique_ptr<Poller>> create(unsigned entries = 4096);
  ~IoUringPoller() override;

  Status add(int fd, uint32_t events, EventHandler* handler) override;
  Status modify(int fd, uint32_t events, EventHandler* handler) override;
  void remove(int fd) override;
  void forget(int fd) override { remove(fd); }
  int wait(int timeout_ms, Ready* out, int max) override;
  LoopBackend backend() const override { return LoopBackend::kIoUring; }

 private:
  struct Registration {
    EventHandler* handler = nullptr;
    uint32_t events = 0;
    uint32_t generation = 0;
    bool active = false;
    // This batch's entry for the descriptor, while batch == the poller's.
    uint64_t batch = 0;
    int slot = 0;
  };

  IoUringPoller() = default;
  // A free submission entry, submitting what is queued when the ring is full;
  // null only when the kernel takes none.
  io_uring_sqe* next_sqe();
  [[nodiscard]] bool arm(int fd, const Registration& r);
  void cancel(int fd, const Registration& r);
  Registration& at(int fd);
  static uint64_t tag(int fd, uint32_t generation) { return uint64_t{generation} << 32 | static_cast<uint32_t>(fd); }

  io_uring ring_{};
  bool ring_ready_ = false;
  std::vector<Registration> regs_;  // by descriptor number
  uint64_t batch_ = 0;
};

}  // namespace nib
