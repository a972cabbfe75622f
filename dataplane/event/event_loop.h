#pragma once
// One event loop per worker thread (after muduo's EventLoop: each method's
// thread contract is on its line). It waits with epoll, or with io_uring's
// poll requests when asked (poller.h), with the same epoll event masks. Timers are intrusive and heap-ordered, so a
// connection's timer costs no allocation and re-arming is O(log n).
//
// Time comes from the Clock the loop was given: timers fire by it, and the
// epoll_wait timeout is computed from it. A clock that jumps (a test's manual
// clock) wakes the loop through clock_moved(), so a test advances time and
// the due timers fire at once, with no wall time spent.
#include <sys/epoll.h>

#include <memory>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/base/loop_backend.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/event/poller.h"

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

class EventLoop final : public Clock::Sleeper {
 public:
  // `backend`: what it asks for; init() falls back to epoll (and says so in
  // the log) when io_uring is not allowed here.
  explicit EventLoop(Clock& clock = SystemClock::instance(), LoopBackend backend = LoopBackend::kEpoll);
  ~EventLoop() override;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Creates the poller and the wake-up descriptor and registers with the
  // clock; call before use.
  Status init();
  // After init(): what the loop waits with.
  LoopBackend backend() const { return poller_ ? poller_->backend() : LoopBackend::kEpoll; }

  // Loop thread (or before run()).
  Status add(int fd, uint32_t events, EventHandler* handler);
  Status modify(int fd, uint32_t events, EventHandler* handler);
  void remove(int fd);
  // Loop thread. `fd`, registered, is about to be closed without remove():
  // free with epoll (a closed descriptor leaves it), a cancellation with
  // io_uring (its poll holds the file open until then).
  void forget(int fd) { poller_->forget(fd); }

  // Loop thread. (Re)arms `timer` to fire at `deadline`; cancel disarms it.
  void arm(Timer& timer, MonoTime deadline);
  void cancel(Timer& timer);

  // Loop thread. Runs until stop(); `after_batch` runs after every batch of
  // events (where deferred frees happen).
  void run(const std::function<void()>& after_batch = {});
  // Loop thread. Time of the current iteration (cheap, cached).
  MonoTime now() const { return now_; }
  // Any thread.
  Clock& clock() const { return clock_; }

  // Any thread.
  void post(std::function<void()> task);
  void stop();

  // The clock jumped (Clock::Sleeper). Called on the thread that moved it:
  // wakes the loop and, unless called on the loop thread or after run()
  // returned, returns once the loop has fired the timers due by the new time
  // (a loop initialised but not yet running is waited for).
  void clock_moved() override;

 private:
  class Waker;
  void wake();
  void fire_timers();
  void run_posted();
  int next_timeout_ms() const;
  void heap_swap(size_t a, size_t b);
  void sift_up(size_t i);
  void sift_down(size_t i);
  void heap_remove(size_t i);

  Clock& clock_;
  bool registered_ = false;  // with clock_, by init()
  const LoopBackend wanted_;
  std::unique_ptr<Poller> poller_;
  UniqueFd wake_;
  std::vector<Timer*> heap_;
  MonoTime now_{};
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  // Guarded by posted_mutex_: posted tasks will run (from init() until run()
  // returns); clock_moved() calls numbered, and the last one the loop caught up with.
  bool runs_posted_ = false;
  uint64_t clock_moves_ = 0;
  uint64_t clock_moves_done_ = 0;
  std::condition_variable clock_moved_cv_;
  std::atomic<std::thread::id> loop_thread_{};
  std::atomic<bool> stop_requested_{false};
};

}  // namespace nib
