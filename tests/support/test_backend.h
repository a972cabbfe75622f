#pragma once
// A real TCP server on loopback for tests: one thread running one epoll loop
// for all its connections (tests open 1,000+ at once, also under ASan).
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/net/socket_address.h"

namespace nib::test {

enum class BackendMode {
  // Greets with name + "\n", then echoes every byte. After the client's EOF it
  // flushes what is pending, shuts down its write side and closes.
  kEcho,
  // HTTP/1.1: every request (no bodies) gets "200 OK" with body name + "\n".
  // Keep-alive by default; "Connection: close" (or HTTP/1.0) closes after the reply.
  kHttp,
  // Accepts, reads and discards, never writes and never closes until stop().
  kSilent,
  // Like kHttp, but every reply is "500 Internal Server Error" (a sick app
  // behind a live port, for health checks).
  kHttpError,
  // Accepts and resets at once (SO_LINGER 0): a server that dies on accept.
  kReset,
  // Accepts, and resets when the first bytes arrive: a request that kills it.
  kResetOnData,
  // Accepts, and closes (FIN) when the first bytes arrive, never answering.
  kCloseOnData,
};

class TestBackend {
 public:
  // Listens at once; throws std::runtime_error when it cannot (gtest reports it).
  explicit TestBackend(std::string name, BackendMode mode = BackendMode::kEcho,
                       std::string ip = "127.0.0.1", uint16_t port = 0);
  ~TestBackend();  // stops, joins, closes everything
  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  uint16_t port() const { return port_; }
  SocketAddress address() const;
  const std::string& name() const { return name_; }
  bool running() const;

  uint64_t accepted() const { return accepted_.load(); }  // total since construction
  uint64_t active() const { return active_.load(); }      // open right now
  // Connections on which the peer's EOF or a reset was seen.
  uint64_t closed_by_peer() const { return closed_by_peer_.load(); }
  uint64_t http_requests() const { return http_requests_.load(); }  // kHttp replies sent
  // The peer IP of every accepted connection, in accept order.
  std::vector<std::string> peer_ips() const;

  // Closes the listener and every connection; connects are then refused.
  void stop();
  // Listens again on the same port (SO_REUSEADDR). No-op when running.
  Status start();
  // Applies to connections accepted from now on.
  void set_mode(BackendMode mode) { mode_.store(mode); }
  // Any thread. Every greeting and reply of connections accepted from now on
  // waits this long before it is sent (a slow server); zero = at once.
  void set_reply_delay(Duration delay) { delay_ns_.store(delay.count()); }

 private:
  struct Conn;
  void run();
  void accept_all();
  void on_event(Conn* c, uint32_t events);
  void handle_input(Conn* c, const char* data, size_t n);
  bool flush(Conn* c);
  void settle(Conn* c);
  void note_peer_gone(Conn* c);
  void close_conn(Conn* c);
  void reset_conn(Conn* c);
  // Sends what waited for its delay; returns the epoll timeout until the next.
  int release_held();

  const std::string name_;
  const std::string ip_;
  uint16_t port_;
  std::atomic<BackendMode> mode_;
  std::atomic<int64_t> delay_ns_{0};

  std::mutex control_mu_;  // serialises start()/stop()
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  UniqueFd listener_;
  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd: stop() wakes the loop through it
  std::thread thread_;
  // Owned by the loop thread while it runs; cleared by stop() after the join.
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<std::unique_ptr<Conn>> graveyard_;  // closed during the current batch
  bool ever_delayed_ = false;  // loop thread: a connection with a reply delay was accepted

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> active_{0};
  std::atomic<uint64_t> closed_by_peer_{0};
  std::atomic<uint64_t> http_requests_{0};
  mutable std::mutex peers_mu_;
  std::vector<std::string> peer_ips_;
};

}  // namespace nib::test
