#pragma once
// A few threads in front of a bounded queue. The admin HTTP server runs the
// handlers that can block on it (REST resolving a host name, /metrics walking
// every backend): when the queue is full the caller is told at once (and
// answers 503), so a flood of requests costs requests, never memory or the
// probes, which its I/O thread answers itself. The gRPC WatchEvents streams
// use one thread of it to make their gRPC calls, since the EventBus publisher
// may only enqueue.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "admin/common/admin_plane_stats.h"

namespace nib::admin {

class BoundedWorkerPool {
 public:
  // `stats` (may be null) gets the queue length as `queued_gauge`.
  BoundedWorkerPool(size_t threads, size_t max_queued, AdminPlaneStats* stats = nullptr,
                    AdminGauge queued_gauge = AdminGauge::kHttpQueuedRequests);
  ~BoundedWorkerPool();  // stop()
  BoundedWorkerPool(const BoundedWorkerPool&) = delete;
  BoundedWorkerPool& operator=(const BoundedWorkerPool&) = delete;

  // Any thread. Queues `task` for a worker; false (and `task` dropped) when
  // max_queued tasks already wait or the pool stopped.
  bool try_submit(std::function<void()> task);

  // Any thread; idempotent. Tasks running finish; queued ones are dropped
  // (destroyed on this thread, unrun). Joins the workers.
  void stop();

 private:
  void run();

  const size_t max_queued_;
  AdminPlaneStats* stats_;
  const AdminGauge queued_gauge_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace nib::admin
