#include "admin/grpc/event_queue.h"

namespace nib::admin {

void EventQueue::push(const DataplaneEvent& event) {
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

void EventQueue::close() {
  std::function<void()> waker;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    waker = waker_;
  }
  ready_.notify_all();
  if (waker) waker();
}

void EventQueue::set_waker(std::function<void()> waker) {
  std::lock_guard lock(mutex_);
  waker_ = std::move(waker);
}

EventQueue::Batch EventQueue::take(Duration timeout) {
  std::unique_lock lock(mutex_);
  ready_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
  Batch batch;
  batch.closed = closed_;
  batch.items.assign(std::make_move_iterator(items_.begin()), std::make_move_iterator(items_.end()));
  items_.clear();
  events_ = 0;
  return batch;
}

}  // namespace nib::admin
