#include "tests/support/dataplane_fixture.h"

#include <cstdlib>

namespace nib::test {

LoopBackend event_loop_under_test() {
  const char* env = std::getenv("NIB_TEST_EVENT_LOOP");
  if (env == nullptr || *env == '\0') return LoopBackend::kEpoll;
  auto backend = parse_loop_backend(env);
  if (!backend) {
    ADD_FAILURE() << "NIB_TEST_EVENT_LOOP: expected epoll or io_uring, got '" << env << "'";
    return LoopBackend::kEpoll;
  }
  return *backend;
}

RelayMode test_relay_mode() {
  const char* mode = std::getenv("NIB_TEST_RELAY");
  if (mode == nullptr || *mode == '\0') return RelayMode::kSplice;
  auto parsed = parse_relay_mode(mode);
  if (!parsed) {
    ADD_FAILURE() << "NIB_TEST_RELAY: expected splice or sockmap, got '" << mode << "'";
    return RelayMode::kSplice;
  }
  return *parsed;
}

DataplaneConfig one_backend_config(const SocketAddress& backend) {
  ServiceConfig s;
  s.name = "web";
  s.listen = *SocketAddress::parse("127.0.0.1:0");
  BackendConfig b;
  b.address = backend;
  b.host = "127.0.0.1";
  s.backends = {b};
  DataplaneConfig config;
  config.workers = 1;
  config.services = {s};
  return config;
}

std::string client_ip(int n) { return "127.0." + std::to_string(n / 250) + "." + std::to_string(2 + n % 250); }

void EventLog::add(const DataplaneEvent& e) {
  std::lock_guard lock(mu_);
  events_.push_back(e);
}

std::vector<DataplaneEvent> EventLog::all() const {
  std::lock_guard lock(mu_);
  return events_;
}

std::vector<DataplaneEvent> EventLog::of(DataplaneEvent::Kind kind, std::optional<uint32_t> backend_id) const {
  std::vector<DataplaneEvent> out;
  for (auto& e : all()) {
    if (e.kind == kind && (!backend_id || e.backend_id == *backend_id)) out.push_back(e);
  }
  return out;
}

size_t EventLog::count(DataplaneEvent::Kind kind, std::optional<uint32_t> backend_id) const {
  return of(kind, backend_id).size();
}

size_t EventLog::size() const { return all().size(); }

}  // namespace nib::test
