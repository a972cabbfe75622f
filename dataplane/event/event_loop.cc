#include "dataplane/event/event_loop.h"

#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nib {

Timer::~Timer() {
  if (armed() && loop_ != nullptr) loop_->cancel(*this);
}

namespace {
// A bound on clock_moved()'s wait, should the loop stop while it waits.
constexpr auto kClockMovedWait = std::chrono::seconds(10);
}  // namespace

EventLoop::EventLoop(Clock& clock) : clock_(clock) {}
EventLoop::~EventLoop() {
  if (registered_) clock_.remove_sleeper(this);
  for (Timer* t : heap_) t->heap_index_ = Timer::kNotArmed;
}

Status EventLoop::init() {
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return Status::internal(std::string("epoll_create1: ") + std::strerror(errno));
  wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_) return Status::internal(std::string("eventfd: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up descriptor is the one without a handler
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0) {
    return Status::internal(std::string("epoll_ctl: ") + std::strerror(errno));
  }
  now_ = clock_.now();
  {
    std::lock_guard lock(posted_mutex_);
    runs_posted_ = true;
  }
  clock_.add_sleeper(this);
  registered_ = true;
  return {};
}

Status EventLoop::add(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return Status::internal(std::string("epoll_ctl add: ") + std::strerror(errno));
  }
  return {};
}

Status EventLoop::modify(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0) {
    return Status::internal(std::string("epoll_ctl mod: ") + std::strerror(errno));
  }
  return {};
}

void EventLoop::remove(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

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
  epoll_event events[kMaxEvents];
  loop_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  while (!stop_requested_.load(std::memory_order_acquire)) {
    int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, next_timeout_ms());
    now_ = clock_.now();
    for (int i = 0; i < n; ++i) {
      auto* handler = static_cast<EventHandler*>(events[i].data.ptr);
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
