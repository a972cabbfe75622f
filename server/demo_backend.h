#pragma once
// The HTTP backends `nib --demo` balances over: a small HTTP/1.1 server on
// 127.0.0.1 that answers every request with a line naming itself, so a user
// can watch the balancing with curl. On cpp-httplib (Debian's libcpp-httplib,
// included only in demo_backend.cc), so the nib binary carries no HTTP parser
// of its own; httplib serves each connection on a thread of a small pool,
// which is plenty for a demo.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "dataplane/base/status.h"

namespace httplib {
class Server;
}

namespace nib {

class DemoBackend {
 public:
  // port 0: an ephemeral port, chosen by start().
  explicit DemoBackend(std::string name, uint16_t port = 0);
  ~DemoBackend();  // stops
  DemoBackend(const DemoBackend&) = delete;
  DemoBackend& operator=(const DemoBackend&) = delete;

  // Listens on 127.0.0.1:port and serves from a thread; returns once it
  // serves. No-op when running; after stop() it listens again on the same port.
  Status start();
  // Closes the listener and every connection, joins the threads.
  void stop();

  uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }
  bool running() const { return thread_.joinable(); }
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  const std::string name_;
  uint16_t port_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;  // runs server_->listen_after_bind()
  std::atomic<uint64_t> requests_{0};
};

}  // namespace nib
