#include "admin/http/event_stream.h"

#include <algorithm>

#include "admin/http/json.h"
#include "admin/http/status_json.h"

namespace nib::admin {

void EventStream::push(const DataplaneEvent& event) {
  std::function<void()> waker;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (queue_.size() >= capacity_) {
      ++dropped_;
    } else {
      queue_.push_back(event);
    }
    waker = waker_;
  }
  cv_.notify_one();
  if (waker) waker();
}

void EventStream::set_waker(std::function<void()> waker) {
  std::lock_guard lock(mu_);
  waker_ = std::move(waker);
}

std::string EventStream::next_chunk(Duration timeout) {
  std::deque<DataplaneEvent> events;
  uint64_t dropped = 0;
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty() || dropped_ > 0; });
    if (closed_) return "";
    events.swap(queue_);
    std::swap(dropped, dropped_);
  }
  std::string out;
  for (const auto& e : events) {
    out += "id: " + std::to_string(e.sequence) + "\nevent: " + to_string(e.kind) + "\ndata: " +
           json::serialize(to_json(e)) + "\n\n";
  }
  // The dropped events were newer than the queued ones: report them after.
  if (dropped > 0) {
    json::Value lost = json::Value::object();
    lost.set("dropped", dropped);
    out += "event: lost\ndata: " + json::serialize(lost) + "\n\n";
  }
  return out;
}

void EventStream::close() {
  std::function<void()> waker;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    waker = waker_;
  }
  cv_.notify_all();
  if (waker) waker();
}

bool EventStream::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

std::shared_ptr<EventStream> EventStreams::open() {
  auto stream = std::make_shared<EventStream>(queue_capacity_);
  {
    std::lock_guard lock(mu_);
    if (closed_ || streams_.size() >= max_streams_) {
      if (stats_ && !closed_) stats_->hit(AdminLimitId::kHttpMaxEventStreams);
      return nullptr;
    }
    streams_.push_back(stream);
  }
  if (stats_) stats_->add(AdminGauge::kHttpEventStreams, 1);
  // Outside mu_: subscribe takes the bus lock, which publish() holds while it
  // calls listeners; never hold both in the other order.
  stream->token_ = bus_.subscribe([stream](const DataplaneEvent& e) { stream->push(e); });
  return stream;
}

void EventStreams::release(const std::shared_ptr<EventStream>& stream) {
  if (!stream) return;
  {
    std::lock_guard lock(mu_);
    auto it = std::find(streams_.begin(), streams_.end(), stream);
    if (it == streams_.end()) return;
    streams_.erase(it);
  }
  if (stats_) stats_->add(AdminGauge::kHttpEventStreams, -1);
  stream->close();
  bus_.unsubscribe(stream->token_);
  released_.notify_all();
}

bool EventStreams::wait_released(Duration timeout) {
  std::unique_lock lock(mu_);
  return released_.wait_for(lock, timeout, [&] { return streams_.empty(); });
}

void EventStreams::close_all() {
  std::vector<std::shared_ptr<EventStream>> streams;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    streams = streams_;
  }
  // Closing wakes each reader, whose release() then unsubscribes.
  for (auto& s : streams) s->close();
}

EventStreams::~EventStreams() {
  close_all();
  for (auto& s : streams_) bus_.unsubscribe(s->token_);
}

size_t EventStreams::open_count() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

}  // namespace nib::admin
