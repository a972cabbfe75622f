#pragma once
// One subscriber's view of the dataplane's events, for every admin front end
// that streams them (SSE at GET /api/v1/events, gRPC WatchEvents): a bounded
// buffer between the EventBus (which must never block on a listener) and a
// writer that may be slow (the client reads at its own pace). When full,
// events are dropped and counted, and the writer reports the count in their
// place, in order.
//
// EventSubscriptions is a front end's set of open subscriptions, capped
// (admin/common/admin_limits.h), counted on /metrics, and closed together when
// the front end stops.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/common/admin_limits.h"
#include "admin/common/admin_plane_stats.h"
#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/notify/event_bus.h"

namespace nib::admin {

class EventSubscription {
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

  // `service` empty: every service's events.
  explicit EventSubscription(size_t capacity, std::string service = {})
      : capacity_(capacity), service_(std::move(service)) {}

  // Any thread (the publisher's). Never waits for the reader; events of other
  // services are ignored.
  void push(const DataplaneEvent& event);
  // Any thread. Wakes take() for good; later pushes are ignored.
  void close();
  bool closed() const;
  // Any thread. `waker` runs after each push() and on close(), on that
  // thread and outside the buffer's lock, for a writer that does not wait in
  // take(). It must only enqueue (it runs on the EventBus publisher's thread).
  void set_waker(std::function<void()> waker);
  // The writer's thread. Waits up to `timeout` (zero: not at all) for
  // something to send, then takes everything queued.
  Batch take(Duration timeout);

 private:
  friend class EventSubscriptions;
  const size_t capacity_;
  const std::string service_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Item> items_;
  size_t events_ = 0;  // items holding an event; markers take no capacity
  bool closed_ = false;
  std::function<void()> waker_;
  uint64_t token_ = 0;  // the EventBus subscription (EventSubscriptions')
};

struct EventSubscriptionLimits {
  size_t max_open = 16;          // open subscriptions; more are refused
  size_t queue_capacity = 1024;  // events each may have waiting
  AdminLimitId limit;            // counted when max_open refuses one
  AdminGauge gauge;              // open subscriptions
  std::string_view what;         // "event streams": for the refusal's message
};

class EventSubscriptions {
 public:
  // `stats` (may be null) counts open subscriptions and refusals.
  EventSubscriptions(EventBus& bus, EventSubscriptionLimits limits, AdminPlaneStats* stats = nullptr)
      : bus_(bus), limits_(limits), stats_(stats) {}
  ~EventSubscriptions();  // unsubscribes whatever is still open

  // Any thread but the EventBus publisher's. A subscribed buffer;
  // kResourceExhausted when max_open are open, kUnavailable after close_all().
  Result<std::shared_ptr<EventSubscription>> open(std::string service = {});
  // Any thread but the publisher's. Unsubscribes and forgets it (idempotent);
  // once it returns, no publisher is inside its listener.
  void release(const std::shared_ptr<EventSubscription>& subscription);
  // Any thread. Closes every subscription (their writers end their streams)
  // and refuses new ones.
  void close_all();
  // Any thread. Waits until every subscription was released, at most
  // `timeout`; false on timeout.
  bool wait_released(Duration timeout);

  size_t open_count() const;

 private:
  EventBus& bus_;
  const EventSubscriptionLimits limits_;
  AdminPlaneStats* const stats_;
  mutable std::mutex mu_;
  std::condition_variable released_;
  std::vector<std::shared_ptr<EventSubscription>> open_;
  bool closed_ = false;
};

}  // namespace nib::admin
