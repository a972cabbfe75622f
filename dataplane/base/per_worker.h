#pragma once
// Counters with one writer per worker: each worker writes only its own cells,
// on a cache line of their own, with a plain load and store (no locked
// instruction, no line bouncing between cores); readers sum the cells of
// every worker. Backend, Service and the UDP listeners keep their per-request
// counters this way.
#include <atomic>
#include <cstdint>
#include <memory>

namespace nib {

// Single writer: a plain load+store, no locked instruction. Readers see the
// old or the new value, never a torn one.
inline void bump(std::atomic<uint64_t>& counter, uint64_t n = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// One `Cells` per worker. Worker i writes only (*this)[i]; any thread reads.
// Worker numbers are per engine: a TCP and a UDP worker may share a number,
// but never a service, so never a PerWorker.
template <typename Cells>
class PerWorker {
 public:
  explicit PerWorker(unsigned workers) : n_(workers == 0 ? 1 : workers), slots_(new Slot[n_]) {}

  // The worker's own cells (a number past the end shares the last: a bound,
  // not a case that happens).
  Cells& operator[](unsigned worker) { return slots_[worker < n_ ? worker : n_ - 1].cells; }
  const Cells& operator[](unsigned worker) const { return slots_[worker < n_ ? worker : n_ - 1].cells; }
  unsigned size() const { return n_; }

 private:
  struct alignas(64) Slot {
    Cells cells;
  };
  const unsigned n_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace nib
