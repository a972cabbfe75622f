#include "dataplane/notify/event_bus.h"

namespace nib {

const char* to_string(DataplaneEvent::Kind kind) {
  switch (kind) {
    case DataplaneEvent::Kind::kBackendAdded: return "backend_added";
    case DataplaneEvent::Kind::kBackendRemoved: return "backend_removed";
    case DataplaneEvent::Kind::kBackendUpdated: return "backend_updated";
    case DataplaneEvent::Kind::kHealthChanged: return "health_changed";
    case DataplaneEvent::Kind::kDrainStarted: return "drain_started";
    case DataplaneEvent::Kind::kDrainFinished: return "drain_finished";
    case DataplaneEvent::Kind::kPolicyChanged: return "policy_changed";
    case DataplaneEvent::Kind::kAclChanged: return "acl_changed";
    case DataplaneEvent::Kind::kTlsChanged: return "tls_changed";
  }
  return "?";
}

uint64_t EventBus::subscribe(Listener listener) {
  std::lock_guard lock(mutex_);
  listeners_.emplace_back(next_token_, std::move(listener));
  return next_token_++;
}

void EventBus::unsubscribe(uint64_t token) {
  std::lock_guard lock(mutex_);
  std::erase_if(listeners_, [token](const auto& l) { return l.first == token; });
}

void EventBus::publish(DataplaneEvent event) {
  std::lock_guard lock(mutex_);  // also orders sequence numbers with delivery
  event.sequence = ++sequence_;
  event.time = std::chrono::system_clock::now();
  for (auto& [token, listener] : listeners_) listener(event);
}

}  // namespace nib
