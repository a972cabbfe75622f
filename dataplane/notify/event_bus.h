#pragma once
// State changes the dataplane announces (backend added/removed/updated, health
// changes, drains finished, policy changes) to whoever listens: the admin
// plane's WatchEvents stream, logs, metrics. Publishing never blocks on a
// listener: listeners must only enqueue.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>


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
    kAclChanged,  // a service's client ACL was replaced (penctl); not saved
    kTlsChanged,  // a TLS service's settings changed through the admin API
  };
  Kind kind = Kind::kBackendUpdated;
  uint64_t sequence = 0;  // increasing per bus, set by publish()
  std::chrono::system_clock::time_point time;
  std::string service;
  uint32_t backend_id = 0;   // 0 when the event is not about one backend
  std::string detail;        // human-readable, e.g. "up -> down: connect refused"
};

const char* to_string(DataplaneEvent::Kind kind);

class EventBus {
 public:
  using Listener = std::function<void(const DataplaneEvent&)>;

  // Any thread. Returns a token for unsubscribe().
  uint64_t subscribe(Listener listener);
  void unsubscribe(uint64_t token);

  // Any thread. Stamps sequence and time, then calls every listener in turn.
  void publish(DataplaneEvent event);

 private:
  std::mutex mutex_;
  std::vector<std::pair<uint64_t, Listener>> listeners_;
  uint64_t next_token_ = 1;
  uint64_t sequence_ = 0;
};

}  // namespace nib
