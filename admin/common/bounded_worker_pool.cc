#include "admin/common/bounded_worker_pool.h"

namespace nib::admin {

BoundedWorkerPool::BoundedWorkerPool(size_t threads, size_t max_queued, AdminPlaneStats* stats,
                                     AdminGauge queued_gauge)
    : max_queued_(max_queued), stats_(stats), queued_gauge_(queued_gauge) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

BoundedWorkerPool::~BoundedWorkerPool() { stop(); }

bool BoundedWorkerPool::try_submit(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
    if (stats_) stats_->add(queued_gauge_, 1);
  }
  ready_.notify_one();
  return true;
}

void BoundedWorkerPool::stop() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    if (stats_) stats_->add(queued_gauge_, -static_cast<int64_t>(dropped.size()));
  }
  ready_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  dropped.clear();  // outside the lock: a task's captures may take their own locks as they go
}

void BoundedWorkerPool::run() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left to run
      task = std::move(queue_.front());
      queue_.pop_front();
      if (stats_) stats_->add(queued_gauge_, -1);
    }
    task();
  }
}

}  // namespace nib::admin
