#include "tests/support/dataplane_fixture.h"

#include <cstdlib>

namespace nib::test {

namespace {

// A mode named by an environment variable (unset or empty: `fallback`); a
// word `parse` does not know fails the test and runs the fallback.
template <typename Mode, typename Parse>
Mode mode_from_env(const char* variable, Mode fallback, Parse parse, const char* expected) {
  const char* word = std::getenv(variable);
  if (word == nullptr || *word == '\0') return fallback;
  auto mode = parse(word);
  if (!mode) {
    ADD_FAILURE() << variable << ": expected " << expected << ", got '" << word << "'";
    return fallback;
  }
  return *mode;
}

}  // namespace

LoopBackend event_loop_under_test() {
  return mode_from_env("NIB_TEST_EVENT_LOOP", LoopBackend::kEpoll, parse_loop_backend, "epoll or io_uring");
}

RelayMode test_relay_mode() {
  return mode_from_env("NIB_TEST_RELAY", RelayMode::kSplice, parse_relay_mode, "splice or sockmap");
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
