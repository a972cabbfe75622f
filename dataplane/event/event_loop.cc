#include "dataplane/event/event_loop.h"

#include <sys/eventfd.h>

#include <algorithm>
#include <mutex>
#include <cerrno>
#include <cstring>

#include "dataplane/base/log.h"
#include "dataplane/event/epoll_poller.h"
#include "dataplane/event/io_uring_poller.h"

namespace nib {

Timer::~Timer() {
  if (armed() && loop_ != nullptr) loop_->cancel(*this);
}

namespace {
// A bound on clock_moved()'s wait, should the loop stop while it waits.
constexpr auto kClockMovedWait = std::chrono::seconds(10);

// Every worker's loop asks; the process says it once.
void log_once_io_uring_unavailable(const std::string& why) {
  static std::once_flag once;
  std::call_once(once, [&] { log_warn("event_loop io_uring: not available here (" + why + "); the workers use epoll"); });
}
}  // namespace

EventLoop::EventLoop(Clock& clock, LoopBackend backend) : clock_(clock), wanted_(backend) {}
EventLoop::~EventLoop() {
  if (registered_) clock_.remove_sleeper(this);
  for (Timer* t : heap_) t->heap_index_ = Timer::kNotArmed;
}

Status EventLoop::init() {
  if (wanted_ == LoopBackend::kIoUring) {
    auto uring = IoUringPoller::create();
    if (uring.ok()) {
      poller_ = std::move(uring).value();
    } else {
      log_once_io_uring_unavailable(uring.status().message());
    }
  }
  if (!poller_) {
    auto epoll = EpollPoller::create();
    if (!epoll.ok()) return epoll.status();
    poller_ = std::move(epoll).value();
  }
  wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_) return Status::internal(std::string("eventfd: ") + std::strerror(errno));
  // The wake-up descriptor is the one without a handler.
  if (Status st = poller_->add(wake_.get(), EPOLLIN, nullptr); !st.ok()) return st;
  now_ = clock_.now();
  {
    std::lock_guard lock(posted_mutex_);
    runs_posted_ = true;
  }
  clock_.add_sleeper(this);
  registered_ = true;
  return {};
}

Status EventLoop::add(int fd, uint32_t events, EventHandler* handler) { return poller_->add(fd, events, handler); }

Status EventLoop::modify(int fd, uint32_t events, EventHandler* handler) {
  return poller_->modify(fd, events, handler);
}

void EventLoop::remove(int fd) { poller_->remove(fd); }

void EventLoop::arm(Timer& timer, MonoTime deadline) {
  timer.loop_ = this;
  timer.deadline_ = deadline;
  if (timer.armed()) {
    sift_up(timer.heap_index_);
    sift_down(timer.heap_index_);
    return;
  }
  timer.heap_index_ = heap_.size();
  heap_.push_back(&timer);
  sift_up(timer.heap_index_);
}

void EventLoop::cancel(Timer& timer) {
  if (timer.armed()) heap_remove(timer.heap_index_);
}

void EventLoop::heap_swap(size_t a, size_t b) {
  std::swap(heap_[a], heap_[b]);
  heap_[a]->heap_index_ = a;
  heap_[b]->heap_index_ = b;
}

void EventLoop::sift_up(size_t i) {
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (heap_[parent]->deadline_ <= heap_[i]->deadline_) break;
    heap_swap(i, parent);
    i = parent;
  }
}

void EventLoop::sift_down(size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < heap_.size() && heap_[l]->deadline_ < heap_[m]->deadline_) m = l;
    if (r < heap_.size() && heap_[r]->deadline_ < heap_[m]->deadline_) m = r;
    if (m == i) return;
    heap_swap(i, m);
    i = m;
  }
}

void EventLoop::heap_remove(size_t i) {
  Timer* t = heap_[i];
  size_t last = heap_.size() - 1;
  if (i != last) heap_swap(i, last);
  heap_.pop_back();
  t->heap_index_ = Timer::kNotArmed;
  if (i < heap_.size()) {
    sift_up(i);
    sift_down(i);
  }
}

int EventLoop::next_timeout_ms() const {
  if (heap_.empty()) return 1000;
  auto wait = heap_.front()->deadline_ - now_;
  if (wait <= Duration::zero()) return 0;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wait + std::chrono::microseconds(999));
  return ms.count() > 1000 ? 1000 : static_cast<int>(ms.count());
}

void EventLoop::fire_timers() {
  while (!heap_.empty() && heap_.front()->deadline_ <= now_) {
    Timer* t = heap_.front();
    heap_remove(0);
    t->callback_();  // may re-arm itself or free its owner (deferred by the owner)
  }
}

void EventLoop::run_posted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard lock(posted_mutex_);
    tasks.swap(posted_);
  }
  for (auto& task : tasks) task();
}

namespace {

// UBSan's vptr check reads a vtable only after probing its memory through a
// pipe(); with every descriptor in use (EMFILE: a state nib must survive,
// and its tests create it) the probe fails and a live handler is reported
// as an "invalid vptr". Handlers are nib's own objects, removed from epoll
// before they go; the dispatch alone is exempt from that check.
__attribute__((no_sanitize("vptr"))) void dispatch(EventHandler* handler, uint32_t events) {
  handler->on_event(events);
}

}  // namespace

void EventLoop::run(const std::function<void()>& after_batch) {
  constexpr int kMaxEvents = 256;
  Poller::Ready events[kMaxEvents];
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  while (!stop_requested_.load(std::memory_order_acquire)) {
    int n = poller_->wait(next_timeout_ms(), events, kMaxEvents);
    now_ = clock_.now();
    for (int i = 0; i < n; ++i) {
      EventHandler* handler = events[i].handler;
      if (handler == nullptr) {
        uint64_t v;
        ssize_t rc = ::read(wake_.get(), &v, sizeof v);
        (void)rc;
        continue;
      }
      dispatch(handler, events[i].events);
    }
    if (after_batch) after_batch();
    fire_timers();
    run_posted();
    if (after_batch) after_batch();
  }
  {
    std::lock_guard lock(posted_mutex_);
    runs_posted_ = false;  // tasks posted from now on never run
  }
  clock_moved_cv_.notify_all();
}

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(task));
  }
  wake();
}

void EventLoop::stop() {
  stop_requested_.store(true, std::memory_order_release);
  wake();
}

void EventLoop::wake() {
  uint64_t one = 1;
  ssize_t rc = ::write(wake_.get(), &one, sizeof one);
  (void)rc;
}

void EventLoop::clock_moved() {
  if (loop_thread_.load(std::memory_order_relaxed) == std::this_thread::get_id()) return wake();
  std::unique_lock lock(posted_mutex_);
  if (!runs_posted_) {
    lock.unlock();
    return wake();
  }
  // Two hops: the inner task runs in an iteration that began after the clock
  // moved (its epoll_wait returned after the outer one ran), so that
  // iteration read the new time and fired the timers due by it first.
  const uint64_t ticket = ++clock_moves_;
  posted_.push_back([this, ticket] {
    post([this, ticket] {
      {
        std::lock_guard done(posted_mutex_);
        clock_moves_done_ = std::max(clock_moves_done_, ticket);
      }
      clock_moved_cv_.notify_all();
    });
  });
  wake();
  clock_moved_cv_.wait_for(lock, kClockMovedWait, [&] { return clock_moves_done_ >= ticket || !runs_posted_; });
}

}  // namespace nib
