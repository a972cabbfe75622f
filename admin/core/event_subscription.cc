#include "admin/core/event_subscription.h"

#include <algorithm>

namespace nib::admin {

void EventSubscription::push(const DataplaneEvent& event) {
  if (!service_.empty() && event.service != service_) return;
  std::function<void()> waker;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    if (events_ < capacity_) {
      items_.push_back(Item{event, 0});
      ++events_;
    } else if (!items_.empty() && !items_.back().event) {
      ++items_.back().lost;  // extend the marker already standing for this gap
    } else {
      items_.push_back(Item{std::nullopt, 1});
    }
    waker = waker_;
  }
  ready_.notify_one();
  if (waker) waker();
}

void EventSubscription::close() {
  std::function<void()> waker;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    waker = waker_;
  }
  ready_.notify_all();
  if (waker) waker();
}

bool EventSubscription::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

void EventSubscription::set_waker(std::function<void()> waker) {
  std::lock_guard lock(mutex_);
  waker_ = std::move(waker);
}

EventSubscription::Batch EventSubscription::take(Duration timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
  Batch batch;
  batch.closed = closed_;
  batch.items.assign(std::make_move_iterator(items_.begin()), std::make_move_iterator(items_.end()));
  items_.clear();
  events_ = 0;
  return batch;
}

Result<std::shared_ptr<EventSubscription>> EventSubscriptions::open(std::string service) {
  auto sub = std::make_shared<EventSubscription>(limits_.queue_capacity, std::move(service));
  {
    std::lock_guard lock(mu_);
    if (closed_) return Status::unavailable("the admin server is stopping");
    if (open_.size() >= limits_.max_open) {
      if (stats_) stats_->hit(limits_.limit);
      return Status(StatusCode::kResourceExhausted,
                    "too many " + std::string(limits_.what) + " are open (" + std::to_string(limits_.max_open) +
                        "); close one, or raise admin.limits." + std::string(limit_key(limits_.limit)));
    }
    open_.push_back(sub);
  }
  if (stats_) stats_->add(limits_.gauge, 1);
  // Outside mu_: subscribe takes the bus lock, which publish() holds while it
  // calls listeners; never hold both in the other order. The listener holds
  // the buffer itself (not the registry): it only enqueues.
  sub->token_ = bus_.subscribe([sub](const DataplaneEvent& e) { sub->push(e); });
  return sub;
}

void EventSubscriptions::release(const std::shared_ptr<EventSubscription>& sub) {
  if (!sub) return;
  {
    std::lock_guard lock(mu_);
    auto it = std::find(open_.begin(), open_.end(), sub);
    if (it == open_.end()) return;
    open_.erase(it);
  }
  if (stats_) stats_->add(limits_.gauge, -1);
  sub->close();
  sub->set_waker(nullptr);
  bus_.unsubscribe(sub->token_);
  released_.notify_all();
}

bool EventSubscriptions::wait_released(Duration timeout) {
  std::unique_lock lock(mu_);
  return released_.wait_for(lock, timeout, [&] { return open_.empty(); });
}

void EventSubscriptions::close_all() {
  std::vector<std::shared_ptr<EventSubscription>> open;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    open = open_;
  }
  // Closing wakes each writer, whose release() then unsubscribes.
  for (auto& s : open) s->close();
}

EventSubscriptions::~EventSubscriptions() {
  close_all();
  for (auto& s : open_) bus_.unsubscribe(s->token_);
}

size_t EventSubscriptions::open_count() const {
  std::lock_guard lock(mu_);
  return open_.size();
}

}  // namespace nib::admin
