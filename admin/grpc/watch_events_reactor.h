#pragma once
// One WatchEvents call on gRPC's callback API: while it waits for events it
// holds no thread (the synchronous API held one per stream, so about 63 open
// streams took every thread and all other calls failed).
//
// Events reach the stream through its EventSubscription (admin/core), which
// the EventBus listener fills (and which only enqueues). The queue's waker schedules a step on the
// `writer` pool's one thread, shared by every stream; gRPC's reactions (a
// write done, the call cancelled) only record what happened and schedule the
// same step. So StartWrite and Finish are always called from that thread, one
// write in flight at a time, and never from the publisher's.
#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "admin/common/bounded_worker_pool.h"
#include "admin/core/event_subscription.h"
#include "nib/admin/v1/admin.grpc.pb.h"

namespace nib::admin {

class WatchEventsReactor final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  struct Setup {
    std::shared_ptr<EventSubscription> events;  // subscribed; null when refused
    BoundedWorkerPool* writer = nullptr;  // one thread; outlives every stream
    // Called from OnDone, once the stream is over (the service releases it).
    std::function<void(const std::shared_ptr<EventSubscription>&)> on_done;
  };

  // The gRPC handler's thread. Not OK `refusal`: the call finishes with it
  // at once. Otherwise (subscribed already) sends the initial metadata (the
  // client knows it is subscribed) and streams until the client leaves (CANCELLED)
  // or the queue is closed (UNAVAILABLE: the server is stopping).
  // Deletes itself in OnDone.
  WatchEventsReactor(Setup setup, const grpc::Status& refusal);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // What the reactions and the writer thread share (outlives the reactor:
  // the queue's waker and scheduled steps hold it).
  struct Link;
  static void schedule(const std::shared_ptr<Link>& link);
  static void step(Link& link);  // the writer thread only

  ~WatchEventsReactor() override = default;

  Setup setup_;
  std::shared_ptr<Link> link_;
  // The writer thread's own: items taken from the buffer, the message in flight.
  std::deque<EventSubscription::Item> pending_;
  v1::Event event_;
};

}  // namespace nib::admin
