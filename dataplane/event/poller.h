#pragma once
// What an EventLoop waits with: readiness of descriptors, epoll's way (a
// mask of EPOLLIN, EPOLLOUT, EPOLLRDHUP, ... per event, EPOLLET for edge
// triggering). Two implementations: epoll (the default) and io_uring's poll
// requests (IoUringPoller), which batch every registration change into the
// one system call that also waits. Every method runs on the loop thread (or
// before the loop runs).
#include <cstdint>
#include <memory>

#include "dataplane/base/status.h"
#include "dataplane/base/loop_backend.h"

namespace nib {

class EventHandler;

class Poller {
 public:
  struct Ready {
    EventHandler* handler;  // null: the loop's own wake-up descriptor
    uint32_t events;
  };

  virtual ~Poller() = default;
  [[nodiscard]] virtual Status add(int fd, uint32_t events, EventHandler* handler) = 0;
  [[nodiscard]] virtual Status modify(int fd, uint32_t events, EventHandler* handler) = 0;
  virtual void remove(int fd) = 0;
  // `fd` is about to be closed without remove(): epoll drops a closed
  // descriptor by itself, io_uring's poll holds the file open until cancelled.
  virtual void forget(int fd) = 0;
  // Waits up to timeout_ms (0: does not wait) and fills out[0, n); returns n
  // (0 on timeout or interruption).
  virtual int wait(int timeout_ms, Ready* out, int max) = 0;
  virtual LoopBackend backend() const = 0;
};

// The poller for `backend`: io_uring when asked for and the kernel allows it
// (else the error, for the caller to fall back and say so), else epoll.
Result<std::unique_ptr<Poller>> make_poller(LoopBackend backend);

}  // namespace nib
