#include "fuzz/fuzz_dataplane.h"

#include <cstdio>
#include <cstdlib>

#include "dataplane/base/log.h"

namespace nib::fuzz {
namespace {

[[noreturn]] void die(const char* what, const Status& status) {
  std::fprintf(stderr, "fuzz dataplane: %s: %s\n", what, status.message().c_str());
  std::abort();
}

}  // namespace

FuzzDataplane& FuzzDataplane::instance() {
  static FuzzDataplane* dp = new FuzzDataplane();  // never destroyed: libFuzzer exits from anywhere
  return *dp;
}

DataplaneConfig FuzzDataplane::make_config() {
  ServiceConfig s;
  s.name = "web";
  s.listen = *SocketAddress::parse("127.0.0.1:0");
  for (const char* address : {"127.0.0.1:9", "127.0.0.2:9"}) {
    BackendConfig b;
    b.address = *SocketAddress::parse(address);
    b.host = "127.0.0.1";
    s.backends.push_back(b);
  }
  DataplaneConfig c;
  c.workers = 1;
  c.services = {s};
  return c;
}

FuzzDataplane::FuzzDataplane() : config_(make_config()), dataplane_(config_) {
  Log::set_level(LogLevel::kError);  // every accepted change logs a line
  if (Status st = dataplane_.start(); !st.ok()) die("start", st);
  baseline_ = admin::capture_state(dataplane_);
  bound_ = dataplane_.bound_address("web");
}

void FuzzDataplane::reset() {
  if (dataplane_.bound_address("web") != bound_) {
    // Back to the configured address (port 0: a fresh port), which the reload compares with.
    if (Status st = dataplane_.set_listen("web", config_.services[0].listen); !st.ok()) die("listen", st);
    bound_ = dataplane_.bound_address("web");
  }
  if (Status st = dataplane_.reload(config_); !st.ok()) die("reload", st);
  if (Status st = admin::restore_state(dataplane_, baseline_); !st.ok()) die("restore_state", st);
  // Runtime settings a reload keeps and the state file does not hold.
  auto status = dataplane_.service("web");
  if (!status.ok()) die("service", status.status());
  for (const auto& b : status->backends) {
    if (b.index < 0) continue;
    if (Status st = dataplane_.set_server_acl("web", b.id, AccessList()); !st.ok()) die("server acl", st);
  }
}

}  // namespace nib::fuzz
