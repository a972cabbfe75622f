#pragma once
// One WatchEvents stream's buffer between the EventBus (which must never
// block on a listener) and the gRPC writer (which may be slow: the client
// reads at its own pace). Bounded: when full, events are dropped and counted,
// and the writer reports the count in their place, in order.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/notify/event_bus.h"

namespace nib::admin {

class EventQueue {
 public:
  // What the writer sends: an event, or (no event) the count of events that
  // were dropped at this point of the stream.
  struct Item {
    std::optional<DataplaneEvent> event;
    uint64_t lost = 0;
  };
  struct Batch {
    std::vector<Item> items;
    bool closed = false;  // close() was called: the stream should end
  };

  explicit EventQueue(size_t capacity) : capacity_(capacity) {}

  // Any thread (the publisher's). Never waits for the reader.
  void push(const DataplaneEvent& event);
  // Any thread. Wakes take() for good.
  void close();
  // Any thread. `waker` runs after each push() and on close(), on that
  // thread and outside the queue's lock, for a writer that does not wait in
  // take(). It must only enqueue (it runs on the EventBus publisher's thread).
  void set_waker(std::function<void()> waker);
  // The writer's thread. Waits up to `timeout` (zero: not at all) for
  // something to send, then takes everything queued.
  Batch take(Duration timeout);

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Item> items_;
  size_t events_ = 0;  // items holding an event; markers take no capacity
  bool closed_ = false;
  std::function<void()> waker_;
};

}  // namespace nib::admin
