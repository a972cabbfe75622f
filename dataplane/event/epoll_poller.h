#pragma once
// The default Poller: one epoll descriptor; each change is an epoll_ctl call.
#include "dataplane/base/unique_fd.h"
#include "dataplane/event/poller.h"

namespace nib {

class EpollPoller final : public Poller {
 public:
  static Result<std::unique_ptr<Poller>> create();

  Status add(int fd, uint32_t events, EventHandler* handler) override;
  Status modify(int fd, uint32_t events, EventHandler* handler) override;
  void remove(int fd) override;
  void forget(int) override {}  // close() drops the descriptor from epoll
  int wait(int timeout_ms, Ready* out, int max) override;
  LoopBackend backend() const override { return LoopBackend::kEpoll; }

 private:
  explicit EpollPoller(UniqueFd epoll) : epoll_(std::move(epoll)) {}
  Status control(int op, int fd, uint32_t events, EventHandler* handler, const char* what);
  UniqueFd epoll_;
};

}  // namespace nib
