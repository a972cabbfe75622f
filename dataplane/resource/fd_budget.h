#pragma once
// The process's descriptor budget (issue 17, finding 2). RLIMIT_NOFILE, less
// what is open once the listeners are bound and a headroom for the admin
// plane, health checks and files (limits::kFdHeadroom*), is what the dataplane
// may hold for clients: two descriptors per relayed TCP connection, two per
// splice pipe, one per UDP session. Each is taken from the budget before the
// call that opens it, so the dataplane stops short of EMFILE instead of
// running into it: accepting pauses (clients wait in the listen backlog),
// relays copy instead of splicing, a new UDP client's datagrams are dropped.
//
// Waking: a TCP worker that paused a listener for want of descriptors (or of
// a service's -x slot, which every connection close also releases here)
// park()s; a release() while anyone is parked calls every worker's waker,
// which posts a resume to its loop. park() comes before the caller re-checks,
// and both sides use seq_cst, so a release between the check and the pause is
// never missed (the listener's retry timer is only a safety net).
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

namespace nib {

class FdBudget {
 public:
  explicit FdBudget(uint64_t capacity) : capacity_(capacity) {}
  // Before any worker runs (the dataplane knows its own descriptors only
  // once its listeners are bound).
  void set_capacity(uint64_t capacity) { capacity_.store(capacity, std::memory_order_relaxed); }
  FdBudget(const FdBudget&) = delete;
  FdBudget& operator=(const FdBudget&) = delete;

  // Any thread. Takes n descriptors, unless that would leave fewer than
  // keep_free (nothing is taken then).
  bool try_acquire(uint64_t n, uint64_t keep_free = 0);
  // Any thread. Gives n back; wakes the parked.
  void release(uint64_t n);
  // Any thread. Wakes the parked: room may have come another way (a
  // service's -x raised at runtime).
  void wake_parked();

  uint64_t capacity() const { return capacity_.load(std::memory_order_relaxed); }
  uint64_t in_use() const { return used_.load(std::memory_order_relaxed); }

  // Before any worker runs. `wake` is called from any thread; it must only
  // post to its loop.
  void add_waker(std::function<void()> wake) { wakers_.push_back(std::move(wake)); }
  // Any thread: see the header comment.
  void park() { parked_.fetch_add(1, std::memory_order_seq_cst); }
  void unpark() { parked_.fetch_sub(1, std::memory_order_seq_cst); }
  int64_t parked() const { return parked_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> capacity_;
  std::atomic<uint64_t> used_{0};
  std::atomic<int64_t> parked_{0};
  std::vector<std::function<void()>> wakers_;  // fixed once workers run
};

// The budget for a descriptor limit, with `open` descriptors in use already
// (listeners, event loops, standard streams): the limit less those and less
// the headroom (limits.h), never below 2.
uint64_t fd_budget_for(uint64_t limit, uint64_t open);

// Descriptors this process has open now (/proc/self/fd); 0 if unknown.
uint64_t count_open_fds();

}  // namespace nib
