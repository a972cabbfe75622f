#include "admin/grpc/watch_events_reactor.h"

#include <atomic>
#include <mutex>

namespace nib::admin {
namespace {

v1::EventType to_proto(DataplaneEvent::Kind kind) {
  switch (kind) {
    case DataplaneEvent::Kind::kBackendAdded: return v1::EVENT_TYPE_BACKEND_ADDED;
    case DataplaneEvent::Kind::kBackendRemoved: return v1::EVENT_TYPE_BACKEND_REMOVED;
    case DataplaneEvent::Kind::kBackendUpdated: return v1::EVENT_TYPE_BACKEND_UPDATED;
    case DataplaneEvent::Kind::kHealthChanged: return v1::EVENT_TYPE_HEALTH_CHANGED;
    case DataplaneEvent::Kind::kDrainStarted: return v1::EVENT_TYPE_DRAIN_STARTED;
    case DataplaneEvent::Kind::kDrainFinished: return v1::EVENT_TYPE_DRAIN_FINISHED;
    case DataplaneEvent::Kind::kPolicyChanged: return v1::EVENT_TYPE_POLICY_CHANGED;
    case DataplaneEvent::Kind::kAclChanged: return v1::EVENT_TYPE_ACL_CHANGED;
    case DataplaneEvent::Kind::kTlsChanged: return v1::EVENT_TYPE_TLS_CHANGED;
  }
  return v1::EVENT_TYPE_UNSPECIFIED;
}

void fill(const EventSubscription::Item& item, v1::Event* out) {
  out->Clear();
  if (!item.event) {
    out->set_type(v1::EVENT_TYPE_EVENTS_LOST);
    out->set_lost_events(item.lost);
    out->set_detail(std::to_string(item.lost) + " event(s) dropped: this stream did not keep up");
    auto now = std::chrono::system_clock::now().time_since_epoch();
    out->mutable_time()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
    return;
  }
  const DataplaneEvent& e = *item.event;
  out->set_sequence(e.sequence);
  auto since_epoch = e.time.time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  out->mutable_time()->set_seconds(secs.count());
  out->mutable_time()->set_nanos(
      static_cast<int32_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs).count()));
  out->set_type(to_proto(e.kind));
  out->set_service(e.service);
  out->set_backend_id(e.backend_id);
  out->set_detail(e.detail);
}

}  // namespace

struct WatchEventsReactor::Link {
  explicit Link(WatchEventsReactor* r, BoundedWorkerPool* w) : reactor(r), writer(w) {}
  WatchEventsReactor* const reactor;  // alive until `finished`: only step() calls Finish
  BoundedWorkerPool* const writer;
  std::atomic<bool> scheduled{false};  // a step is queued: further wake-ups add nothing
  std::mutex mu;
  bool finished = false;   // Finish was called; the reactor may be gone
  bool in_flight = false;  // a write is outstanding
  bool cancelled = false;  // the client left (or a write failed)
};

WatchEventsReactor::WatchEventsReactor(Setup setup, const grpc::Status& refusal) : setup_(std::move(setup)) {
  link_ = std::make_shared<Link>(this, setup_.writer);
  if (!refusal.ok()) {
    link_->finished = true;
    Finish(refusal);
    return;
  }
  std::weak_ptr<Link> weak = link_;
  setup_.events->set_waker([weak] {
    if (auto link = weak.lock()) schedule(link);
  });
  StartSendInitialMetadata();
}

void WatchEventsReactor::schedule(const std::shared_ptr<Link>& link) {
  if (link->scheduled.exchange(true)) return;
  link->writer->try_submit([link] {
    link->scheduled.store(false);
    step(*link);
  });
}

void WatchEventsReactor::step(Link& link) {
  bool cancelled = false;
  {
    std::lock_guard lock(link.mu);
    if (link.finished || link.in_flight) return;  // OnWriteDone schedules the next step
    cancelled = link.cancelled;
  }
  // Not finished: the reactor is alive, since only this thread finishes it.
  WatchEventsReactor& r = *link.reactor;
  grpc::Status end;
  bool ending = cancelled;
  if (cancelled) {
    end = grpc::Status::CANCELLED;
  } else {
    EventSubscription::Batch batch = r.setup_.events->take(Duration::zero());
    for (auto& item : batch.items) r.pending_.push_back(std::move(item));
    if (batch.closed) {
      ending = true;
      end = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the admin server is stopping");
    }
  }
  if (ending) {
    {
      std::lock_guard lock(link.mu);
      link.finished = true;
    }
    r.Finish(end);
    return;
  }
  if (r.pending_.empty()) return;
  fill(r.pending_.front(), &r.event_);
  r.pending_.pop_front();
  {
    std::lock_guard lock(link.mu);
    link.in_flight = true;
  }
  r.StartWrite(&r.event_);
}

void WatchEventsReactor::OnWriteDone(bool ok) {
  {
    std::lock_guard lock(link_->mu);
    link_->in_flight = false;
    if (!ok) link_->cancelled = true;  // the client went away
  }
  schedule(link_);
}

void WatchEventsReactor::OnCancel() {
  {
    std::lock_guard lock(link_->mu);
    link_->cancelled = true;
  }
  schedule(link_);
}

void WatchEventsReactor::OnDone() {
  // A gRPC thread, never the publisher's: releasing (which unsubscribes,
  // taking the bus lock) is safe here.
  if (setup_.events && setup_.on_done) setup_.on_done(setup_.events);
  delete this;
}

}  // namespace nib::admin
