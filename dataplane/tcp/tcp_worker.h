#pragma once
// A worker thread: one epoll loop, its own SO_REUSEPORT listener per TCP
// service, a pool of connection objects and relay buffers reused without
// allocation once warm.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "dataplane/event/event_loop.h"
#include "dataplane/service/drain_deadlines.h"
#include "dataplane/service/service.h"
#include "dataplane/status_views.h"
#include "dataplane/tcp/pipe_pool.h"
#include "dataplane/tcp/tcp_connection.h"

namespace nib {

class TcpWorker {
 public:
  static constexpr size_t kBufferSize = 64 * 1024;

  // pipe_limit: pipes this worker may hold for the zero-copy relay (0 = copy
  // only). Timers (connect and idle timeouts, drain deadlines) run on `clock`.
  TcpWorker(unsigned index, size_t pipe_limit, Clock& clock = SystemClock::instance());
  ~TcpWorker();  // stops and joins
  TcpWorker(const TcpWorker&) = delete;
  TcpWorker& operator=(const TcpWorker&) = delete;

  Status init();
  // Before start(). The worker accepts `service`'s clients on `listener`.
  Status add_listener(Service& service, UniqueFd listener);
  void start();

  // Any thread.
  void stop_accepting();
  void close_all();
  void stop();
  int64_t open_connections() const { return open_.load(std::memory_order_relaxed); }
  // Any thread; waits for the loop to answer (empty after `timeout`).
  std::vector<ConnectionInfo> connections(Duration timeout);
  // Any thread. At `deadline`, closes this worker's connections to `backend`
  // if its drain number `generation` is still going on (drain_timeout).
  void close_drain_stragglers_at(std::shared_ptr<Backend> backend, uint64_t generation, MonoTime deadline);

  // Loop thread: the services connections use.
  EventLoop& loop() { return loop_; }
  unsigned index() const { return index_; }
  std::unique_ptr<char[]> take_buffer();
  void give_buffer(std::unique_ptr<char[]> buffer);
  PipePool& pipes() { return pipes_; }
  void retire(TcpConnection* connection);

 private:
  class Listener final : public EventHandler {
   public:
    Listener(TcpWorker& w, Service& s, UniqueFd fd);
    void on_event(uint32_t /*events*/) override { worker_.accept_from(*this); }
    void pause();
    void resume();

    TcpWorker& worker_;
    Service& service_;
    UniqueFd fd_;
    Timer resume_timer_;
    bool registered_ = false;
    std::shared_ptr<const RegistrySnapshot> snapshot_;
    uint64_t generation_ = 0;
  };

  // Loop thread: a drain deadline passed.
  void close_connections_to(const Backend& backend);

  void accept_from(Listener& l);
  void admit(Listener& l, UniqueFd client, const SocketAddress& peer);
  TcpConnection* acquire();
  void recycle_retired();

  const unsigned index_;
  EventLoop loop_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<TcpConnection>> pool_;  // every connection object this worker made
  std::vector<TcpConnection*> free_;
  std::vector<TcpConnection*> retired_;               // closed in this batch; freed after it
  std::vector<std::unique_ptr<char[]>> buffers_;      // idle relay buffers
  DrainDeadlines drain_deadlines_;
  PipePool pipes_;
  std::atomic<int64_t> open_{0};
  std::thread thread_;
};

}  // namespace nib
