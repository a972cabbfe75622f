#pragma once
// A bounded single-producer, single-consumer ring of AccessRecords: the
// producer is one worker, the consumer the access log's writer thread. The
// worker fills a slot in place (claim, fill, publish): no lock, no
// allocation, no system call. A full ring drops the record and counts it:
// the worker never waits for the disk.
//
// The indices grow forever (64 bits do not wrap); a slot is index & mask.
// head_ is stored by the producer only, tail_ by the consumer only; each
// reads the other's with acquire, so a published slot is seen filled and a
// consumed slot is not overwritten before the writer is done with it. The
// producer caches the tail to read the consumer's line only when it looks full
// (the same trick as Backend's per-worker slots: no line bounces per record).
#include <atomic>
#include <cstdint>
#include <memory>

#include "dataplane/log/access_record.h"

namespace nib {

class AccessRing {
 public:
  // `capacity` is rounded up to a power of two (at least 1).
  explicit AccessRing(uint32_t capacity);
  AccessRing(const AccessRing&) = delete;
  AccessRing& operator=(const AccessRing&) = delete;

  // Producer only. The next free slot (its previous content is stale: set
  // every field), or null when full (the drop is counted).
  AccessRecord* claim() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - cached_tail_ > mask_) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
      if (head - cached_tail_ > mask_) {
        dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        return nullptr;
      }
    }
    return &slots_[head & mask_];
  }
  // Producer only, after claim() returned a slot: hands it to the consumer.
  void publish() { head_.store(head_.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

  // Consumer only. Calls `take(const AccessRecord&)` for every published
  // record, oldest first, then frees their slots. Returns how many.
  template <typename Take>
  uint64_t drain(Take&& take) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const uint64_t head = head_.load(std::memory_order_acquire);
    for (uint64_t i = tail; i != head; ++i) take(slots_[i & mask_]);
    tail_.store(head, std::memory_order_release);
    return head - tail;
  }

  // Any thread.
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t capacity() const { return mask_ + 1; }

 private:
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t cached_tail_ = 0;            // producer only
  std::atomic<uint64_t> dropped_{0};    // producer writes
  alignas(64) std::atomic<uint64_t> tail_{0};
  alignas(64) uint64_t mask_;
  std::unique_ptr<AccessRecord[]> slots_;
};

}  // namespace nib
