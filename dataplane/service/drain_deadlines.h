#pragma once
// A worker's pending drain deadlines (drain_timeout), the same for TCP and
// UDP workers: at each deadline the worker closes its own connections (UDP:
// sessions) to the backend, if the drain that set the deadline is still going
// on: a drain the operator ended or restarted (Backend::drain_generation)
// leaves its old deadlines without effect. Each worker closes on its own
// loop thread, so no connection is touched by two threads.
#include <functional>
#include <memory>
#include <vector>

#include "dataplane/event/event_loop.h"
#include "dataplane/registry/backend.h"

namespace nib {

class DrainDeadlines {
 public:
  // Loop thread: closes the worker's connections to `backend`.
  using CloseFn = std::function<void(const Backend& backend)>;

  // Lives as long as `loop` (declared after it by the worker).
  DrainDeadlines(EventLoop& loop, CloseFn close);
  DrainDeadlines(const DrainDeadlines&) = delete;
  DrainDeadlines& operator=(const DrainDeadlines&) = delete;

  // Any thread. At `deadline` (on the loop's clock), closes the worker's
  // connections to `backend` if its drain number `generation` still runs.
  void add(std::shared_ptr<Backend> backend, uint64_t generation, MonoTime deadline);

 private:
  struct Entry {
    Entry(DrainDeadlines& owner, std::shared_ptr<Backend> b, uint64_t g)
        : timer([this, &owner] { owner.fire(this); }), backend(std::move(b)), generation(g) {}
    Timer timer;
    std::shared_ptr<Backend> backend;
    uint64_t generation = 0;
  };
  void fire(Entry* e);  // loop thread

  EventLoop& loop_;
  CloseFn close_;
  std::vector<std::unique_ptr<Entry>> entries_;  // loop thread
};

}  // namespace nib
