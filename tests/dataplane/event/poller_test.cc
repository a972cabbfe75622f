// The loop's readiness contract, the same with epoll and with io_uring's poll
// requests: level and edge triggering, changing and dropping a registration,
// a descriptor number reused after close, and a closed socket really closed.
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <memory>
#include <thread>

#include "dataplane/event/event_loop.h"

namespace nib {
namespace {

// A connected pair of non-blocking stream sockets.
struct SocketPair {
  UniqueFd a, b;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
};

void send_byte(int fd) { ASSERT_EQ(::send(fd, "x", 1, MSG_NOSIGNAL), 1); }

// Calls `on` for every event, on the loop thread.
class Handler final : public EventHandler {
 public:
  explicit Handler(std::function<void(uint32_t)> on) : on_(std::move(on)) {}
  void on_event(uint32_t events) override { on_(events); }

 private:
  std::function<void(uint32_t)> on_;
};

class PollerTest : public testing::TestWithParam<LoopBackend> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loop_.init().ok());
    // A kernel or sandbox without io_uring falls back to epoll; here (and in
    // CI) the test is about io_uring, so that would be a failure.
    ASSERT_EQ(loop_.backend(), GetParam());
  }
  // Runs the loop on this thread until a handler stops it (bounded by a
  // timer: a missing event fails the test instead of hanging it).
  void run() {
    Timer guard([&] {
      ADD_FAILURE() << "no event within 10 s";
      loop_.stop();
    });
    loop_.arm(guard, loop_.clock().now() + std::chrono::seconds(10));
    loop_.run();
    loop_.cancel(guard);
  }

  EventLoop loop_{SystemClock::instance(), GetParam()};
};

// Level-triggered: a readable socket nobody reads is reported again on every
// wait, as epoll's default.
TEST_P(PollerTest, LevelTriggeredReportsAgainUntilDrained) {
  SocketPair p;
  int events = 0;
  Handler h([&](uint32_t ev) {
    EXPECT_NE(ev & EPOLLIN, 0u);
    if (++events == 3) loop_.stop();
  });
  ASSERT_TRUE(loop_.add(p.a.get(), EPOLLIN, &h).ok());
  send_byte(p.b.get());
  run();
  EXPECT_EQ(events, 3);
  loop_.remove(p.a.get());
}

// Edge-triggered: each arrival is an event even when earlier bytes were
// left unread; the handler here writes the next byte after each event.
TEST_P(PollerTest, EdgeTriggeredReportsEachArrival) {
  SocketPair p;
  int events = 0;
  Handler h([&](uint32_t ev) {
    EXPECT_NE(ev & EPOLLIN, 0u);
    if (++events == 5) return loop_.stop();
    send_byte(p.b.get());
  });
  ASSERT_TRUE(loop_.add(p.a.get(), EPOLLIN | EPOLLRDHUP | EPOLLET, &h).ok());
  send_byte(p.b.get());
  run();
  EXPECT_EQ(events, 5);
  loop_.remove(p.a.get());
}

// The peer's close reaches an edge-triggered registration as EPOLLRDHUP.
TEST_P(PollerTest, PeerCloseIsReadHangUp) {
  SocketPair p;
  Handler h([&](uint32_t ev) {
    if ((ev & EPOLLRDHUP) != 0) loop_.stop();
  });
  ASSERT_TRUE(loop_.add(p.a.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &h).ok());
  p.b.reset();
  run();
  loop_.remove(p.a.get());
}

TEST_P(PollerTest, ModifyChangesWhatIsWaitedFor) {
  SocketPair p;
  uint32_t seen = 0;
  Handler h([&](uint32_t ev) {
    seen = ev;
    loop_.stop();
  });
  ASSERT_TRUE(loop_.add(p.a.get(), EPOLLIN, &h).ok());  // nothing to read: no event
  ASSERT_TRUE(loop_.modify(p.a.get(), EPOLLOUT, &h).ok());
  run();
  EXPECT_NE(seen & EPOLLOUT, 0u);
  EXPECT_EQ(seen & EPOLLIN, 0u);
  loop_.remove(p.a.get());
}

// A descriptor forgotten and closed while its event is pending, and its
// number taken at once by a new socket: only the new registration's handler
// hears of the new socket, never the old one's.
TEST_P(PollerTest, AReusedDescriptorNumberReachesOnlyItsNewHandler) {
  auto old_pair = std::make_unique<SocketPair>();
  const int number = old_pair->a.get();
  bool old_called = false;
  Handler old_handler([&](uint32_t) { old_called = true; });
  ASSERT_TRUE(loop_.add(number, EPOLLIN | EPOLLET, &old_handler).ok());
  send_byte(old_pair->b.get());  // an event for it is ready (or posted)
  loop_.forget(number);
  old_pair.reset();  // both ends closed: `number` is free again
  SocketPair fresh;
  ASSERT_TRUE(fresh.a.get() == number || fresh.b.get() == number) << "the descriptor number was not reused";
  const int reused = fresh.a.get() == number ? fresh.a.get() : fresh.b.get();
  const int peer = reused == fresh.a.get() ? fresh.b.get() : fresh.a.get();
  Handler new_handler([&](uint32_t) { loop_.stop(); });
  ASSERT_TRUE(loop_.add(reused, EPOLLIN | EPOLLET, &new_handler).ok());
  send_byte(peer);
  run();
  EXPECT_FALSE(old_called);
  loop_.remove(reused);
}

// forget() then close(): the socket is closed for real (its peer reads the
// end of the stream) once the loop has waited again; io_uring's poll would
// otherwise keep the file open.
TEST_P(PollerTest, AForgottenSocketIsClosedForRealAfterTheNextWait) {
  SocketPair p;
  Handler h([](uint32_t) {});
  ASSERT_TRUE(loop_.add(p.a.get(), EPOLLIN | EPOLLET, &h).ok());
  loop_.forget(p.a.get());
  p.a.reset();
  std::thread t([&] { loop_.run(); });
  pollfd pfd{p.b.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 10000), 1) << "the closed end never reached its peer";
  char c;
  EXPECT_EQ(::recv(p.b.get(), &c, 1, 0), 0);
  loop_.stop();
  t.join();
}

TEST_P(PollerTest, PostedTasksAndTimersRun) {
  std::thread t([&] { loop_.run(); });
  std::promise<void> ran;
  loop_.post([&] { ran.set_value(); });
  ran.get_future().wait();
  std::promise<void> fired;
  Timer timer([&] { fired.set_value(); });
  loop_.post([&] { loop_.arm(timer, loop_.now() + std::chrono::milliseconds(1)); });
  fired.get_future().wait();
  loop_.stop();
  t.join();
}

INSTANTIATE_TEST_SUITE_P(Backends, PollerTest, testing::Values(LoopBackend::kEpoll, LoopBackend::kIoUring),
                         [](const testing::TestParamInfo<LoopBackend>& info) {
                           return info.param == LoopBackend::kIoUring ? "io_uring" : "epoll";
                         });

}  // namespace
}  // namespace nib
