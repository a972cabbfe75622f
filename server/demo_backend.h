#pragma once
// The HTTP backends `nib --demo` balances over: a tiny HTTP/1.1 server on
// 127.0.0.1 that answers every request with a line naming itself, so a user
// can watch the balancing with curl. One thread, one epoll loop, std + POSIX.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"

namespace nib {

class DemoBackend {
 public:
  // port 0: an ephemeral port, chosen by start().
  explicit DemoBackend(std::string name, uint16_t port = 0);
  ~DemoBackend();  // stops
  DemoBackend(const DemoBackend&) = delete;
  DemoBackend& operator=(const DemoBackend&) = delete;

  // Listens on 127.0.0.1:port and starts the thread. No-op when running; after
  // stop() it listens again on the same port.
  Status start();
  // Closes the listener and every connection, joins the thread.
  void stop();

  uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }
  bool running() const { return thread_.joinable(); }
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  struct Conn;
  void run();
  void accept_all();
  void on_event(Conn* c, uint32_t events);
  void parse_requests(Conn* c);
  bool flush(Conn* c);
  void settle(Conn* c);
  void close_conn(Conn* c);
  void set_listener_interest(bool on);

  const std::string name_;
  uint16_t port_;
  std::string body_;  // the same for every reply once the port is known

  UniqueFd listener_;
  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd: stop() wakes the loop through it
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool listener_paused_ = false;  // out of fds: accept again once one closes
  // Loop-thread state; stop() clears it after the join.
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<uint64_t> requests_{0};
};

}  // namespace nib
