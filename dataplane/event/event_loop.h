#pragma once
// One epoll loop per worker thread (after muduo's EventLoop: each method's
// thread contract is on its line). Timers are intrusive and heap-ordered, so a
// connection's timer costs no allocation and re-arming is O(log n).
#include <sys/epoll.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"

namespace nib {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  // Loop thread. `events` is the epoll mask.
  virtual void on_event(uint32_t events) = 0;
};

class EventLoop;

// A one-shot timer owned by its user (embedded in a connection, say).
class Timer {
 public:
  explicit Timer(std::function<void()> callback) : callback_(std::move(callback)) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  bool armed() const { return heap_index_ != kNotArmed; }
  MonoTime deadline() const { return deadline_; }

 private:
  friend class EventLoop;
  static constexpr size_t kNotArmed = SIZE_MAX;
  std::function<void()> callback_;
  MonoTime deadline_{};
  size_t heap_index_ = kNotArmed;
  EventLoop* loop_ = nullptr;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  Status init();  // creates the epoll and wake-up descriptors; call before use

  // Loop thread (or before run()).
  Status add(int fd, uint32_t events, EventHandler* handler);
  Status modify(int fd, uint32_t events, EventHandler* handler);
  void remove(int fd);

  // Loop thread. (Re)arms `timer` to fire at `deadline`; cancel disarms it.
  void arm(Timer& timer, MonoTime deadline);
  void cancel(Timer& timer);

  // Loop thread. Runs until stop(); `after_batch` runs after every batch of
  // events (where deferred frees happen).
  void run(const std::function<void()>& after_batch = {});
  // Loop thread. Time of the current iteration (cheap, cached).
  MonoTime now() const { return now_; }

  // Any thread.
  void post(std::function<void()> task);
  void stop();

 private:
  class Waker;
  void fire_timers();
  void run_posted();
  int next_timeout_ms() const;
  void heap_swap(size_t a, size_t b);
  void sift_up(size_t i);
  void sift_down(size_t i);
  void heap_remove(size_t i);

  UniqueFd epoll_;
  UniqueFd wake_;
  std::vector<Timer*> heap_;
  MonoTime now_{};
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> stop_requested_{false};
};

}  // namespace nib
