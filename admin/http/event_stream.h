#pragma once
// Server-Sent Events for GET /api/v1/events: each client gets a bounded queue
// fed by an EventBus listener. The listener only takes a short lock and
// appends (or counts a drop when the queue is full), so a slow client never
// blocks the publisher; the client is told how many events it lost.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "admin/common/admin_plane_stats.h"
#include "dataplane/base/clock.h"
#include "dataplane/notify/event_bus.h"

namespace nib::admin {

class EventStream {
 public:
  explicit EventStream(size_t capacity) : capacity_(capacity) {}

  // Any thread (the EventBus listener). Never waits for the reader.
  void push(const DataplaneEvent& event);

  // Any thread. `waker` runs (on the pushing or closing thread, outside the
  // stream's lock) after each push and on close(): an asynchronous reader
  // uses it instead of waiting in next_chunk(). It must not block.
  void set_waker(std::function<void()> waker);

  // The stream's thread. Waits up to `timeout` (zero: not at all) for events
  // and returns them as SSE text ("id: ...\nevent: ...\ndata: {json}\n\n"
  // each, then an "event: lost" record when some were dropped). "" on timeout
  // or once closed.
  std::string next_chunk(Duration timeout);

  // Any thread. Wakes the reader; next_chunk() returns "" from now on.
  void close();
  bool closed() const;

  uint64_t token() const { return token_; }

 private:
  friend class EventStreams;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<DataplaneEvent> queue_;
  uint64_t dropped_ = 0;
  bool closed_ = false;
  std::function<void()> waker_;
  uint64_t token_ = 0;  // the EventBus subscription
};

// The live streams: opened per request, all closed when the server stops.
class EventStreams {
 public:
  // `stats` (may be null) counts open streams and refusals at max_streams.
  EventStreams(EventBus& bus, size_t queue_capacity, size_t max_streams, AdminPlaneStats* stats = nullptr)
      : bus_(bus), queue_capacity_(queue_capacity), max_streams_(max_streams), stats_(stats) {}
  ~EventStreams();  // unsubscribes whatever is still open

  // Any thread. A subscribed stream; nullptr when max_streams are open or
  // after close_all().
  std::shared_ptr<EventStream> open();
  // Any thread. Unsubscribes and forgets the stream (idempotent).
  void release(const std::shared_ptr<EventStream>& stream);
  // Any thread. Closes every stream (their readers return at once) and
  // refuses new ones.
  void close_all();
  // Any thread. Waits until every stream was released (its response ended),
  // at most `timeout`; false on timeout.
  bool wait_released(Duration timeout);

  size_t open_count() const;

 private:
  EventBus& bus_;
  const size_t queue_capacity_;
  const size_t max_streams_;
  AdminPlaneStats* const stats_;
  mutable std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::shared_ptr<EventStream>> streams_;
  bool closed_ = false;
};

}  // namespace nib::admin
