#include "dataplane/event/epoll_poller.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace nib {

Result<std::unique_ptr<Poller>> EpollPoller::create() {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return Status::internal(std::string("epoll_create1: ") + std::strerror(errno));
  return std::unique_ptr<Poller>(new EpollPoller(std::move(epoll)));
}

Status EpollPoller::add(int fd, uint32_t events, EventHandler* handler) {
  return control(EPOLL_CTL_ADD, fd, events, handler, "epoll_ctl add: ");
}

Status EpollPoller::modify(int fd, uint32_t events, EventHandler* handler) {
  return control(EPOLL_CTL_MOD, fd, events, handler, "epoll_ctl mod: ");
}

Status EpollPoller::control(int op, int fd, uint32_t events, EventHandler* handler, const char* what) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_.get(), op, fd, &ev) != 0) return Status::internal(what + std::string(std::strerror(errno)));
  return {};
}

void EpollPoller::remove(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int EpollPoller::wait(int timeout_ms, Ready* out, int max) {
  constexpr int kMaxEvents = 256;
  epoll_event events[kMaxEvents];
  int n = ::epoll_wait(epoll_.get(), events, std::min(max, kMaxEvents), timeout_ms);
  for (int i = 0; i < n; ++i) out[i] = Ready{static_cast<EventHandler*>(events[i].data.ptr), events[i].events};
  return n < 0 ? 0 : n;
}

}  // namespace nib
