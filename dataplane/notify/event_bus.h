#pragma once
// State changes the dataplane announces (backend added/removed/updated, health
// changes, drains finished, policy changes) to whoever listens: the admin
// plane's WatchEvents stream, logs, metrics. Publishing never blocks on a
// listener: listeners must only enqueue.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/base/status.h"

namespace nib {

struct DataplaneEvent {
  enum class Kind {
    kBackendAdded,
    kBackendRemoved,
    kBackendUpdated,
    kHealthChanged,
    kDrainStarted,
    kDrainFinished,
    kPolicyChanged,
  };
  Kind kind = Kind::kBackendUpdated;
  uint64_t sequence = 0;  // increasing per bus, set by publish()
  std::chrono::system_clock::time_point time;
  std::string service;
  uint32_t backend_id = 0;   // 0 when the event is not about one backend
  std::string detail;        // human-readable, e.g. "up -> down: connect refused"
};

const char* to_string(DataplaneEvent::Kind kind);

// A subscriber that keeps what it hears on disk (admin's state writer, with
// --state). The admin front ends acknowledge a change only once sync() says it
// is kept, and /readyz reports health(). Lives on the bus so that every front
// end reaches it through the Dataplane it already holds.
class EventKeeper {
 public:
  virtual ~EventKeeper() = default;
  // Any thread. Blocks until every event published before the call is kept;
  // otherwise why not.
  virtual Status sync() = 0;
  // Any thread. OK while keeping works; the last failure otherwise.
  virtual Status health() const = 0;
};

class EventBus {
 public:
  using Listener = std::function<void(const DataplaneEvent&)>;

  // Any thread. Returns a token for unsubscribe().
  uint64_t subscribe(Listener listener);
  void unsubscribe(uint64_t token);

  // Any thread. Stamps sequence and time, then calls every listener in turn.
  void publish(DataplaneEvent event);

  // Any thread. At most one keeper: a later call replaces it, nullptr removes it.
  void set_keeper(std::shared_ptr<EventKeeper> keeper);
  // Any thread. The keeper's sync() and health(); OK without a keeper.
  Status sync();
  Status keeper_health();

 private:
  std::shared_ptr<EventKeeper> keeper();

  std::mutex keeper_mutex_;  // never held while the keeper works
  std::shared_ptr<EventKeeper> keeper_;
  std::mutex mutex_;
  std::vector<std::pair<uint64_t, Listener>> listeners_;
  uint64_t next_token_ = 1;
  uint64_t sequence_ = 0;
};

}  // namespace nib
