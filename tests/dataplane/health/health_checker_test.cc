// Active checks against real loopback backends that the tests stop, start and
// make answer 500, slowly or never. Time is a manual clock: each step starts
// the next check (advance by one interval) and waits for its outcome, which
// arrives in real time (a refused or accepted connect, a reply) or, for a
// backend that never answers, lets the check's timeout pass. So the bounds are
// exact: down after exactly `fall` failed checks (fall intervals, plus one
// timeout when the backend is silent), up after exactly `rise` passes.
#include "dataplane/health/health_checker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "dataplane/config/limits.h"
#include "tests/support/manual_clock.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"
#include "tests/support/test_udp_backend.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::BackendMode;
using test::TestBackend;
using test::wait_until;

// Production-like values: on the manual clock they cost no wall time.
constexpr double kInterval = 2;
constexpr double kTimeout = 1;
const Duration kIntervalD = seconds_to_duration(kInterval);
const Duration kTimeoutD = seconds_to_duration(kTimeout);

struct Change {
  std::string service;
  uint32_t id;
  bool up;
  std::string reason;
};

class HealthCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    checker_ = std::make_unique<HealthChecker>(
        [this](const std::string& s, const Backend& b, bool up, const std::string& reason) {
          std::lock_guard lock(mu_);
          changes_.push_back({s, b.id(), up, reason});
        },
        clock_);
    ASSERT_TRUE(checker_->start().ok());
  }
  void TearDown() override { checker_.reset(); }

  std::shared_ptr<Backend> make_backend(const TestBackend& tb) { return make_backend(tb.address()); }
  std::shared_ptr<Backend> make_backend(const test::TestUdpBackend& ub) { return make_backend(ub.address()); }
  std::shared_ptr<Backend> make_backend(const SocketAddress& address) {
    BackendConfig c;
    c.address = address;
    c.host = "127.0.0.1";
    return std::make_shared<Backend>(next_id_++, c, 1, clock_);
  }
  static HealthCheckConfig check(HealthCheckType type, uint32_t rise = 2, uint32_t fall = 2) {
    HealthCheckConfig c;
    c.type = type;
    c.interval_seconds = kInterval;
    c.timeout_seconds = kTimeout;
    c.rise = rise;
    c.fall = fall;
    return c;
  }
  void watch(std::shared_ptr<Backend> b, HealthCheckConfig c) { set_targets({{"svc", std::move(b), std::move(c)}}); }
  // set_targets(), and the checker has applied them: advance() returns once
  // the loop caught up, here without moving time. The first checks are then
  // due within one interval.
  void set_targets(std::vector<HealthChecker::Target> targets) {
    checker_->set_targets(std::move(targets));
    clock_.advance(Duration::zero());
  }
  std::vector<Change> changes() {
    std::lock_guard lock(mu_);
    return changes_;
  }
  static uint64_t checks(const Backend& b) { return b.health().checks; }

  // The next check of each backend in `bs` (every probe is due one interval
  // on, the first within one interval of watch()), waited for until its
  // outcome is recorded: for backends that answer or refuse at once.
  void check_once(std::initializer_list<const Backend*> bs) {
    std::vector<uint64_t> before;
    for (const Backend* b : bs) before.push_back(checks(*b));
    clock_.advance(kIntervalD);
    size_t i = 0;
    for (const Backend* b : bs) {
      const uint64_t n = before[i++];
      ASSERT_TRUE(wait_until([&] { return checks(*b) > n; })) << "backend " << b->id() << ": no check finished";
      EXPECT_EQ(checks(*b), n + 1);
    }
  }
  void check_once(const Backend& b) { check_once({&b}); }
  // The next check of a backend that never answers: its timeout decides.
  // The timeout fires inside advance(), so no waiting is needed.
  void check_times_out(const Backend& b) {
    const uint64_t n = checks(b);
    clock_.advance(kIntervalD);
    EXPECT_EQ(checks(b), n) << "decided before its timeout: " << b.health().last_check;
    clock_.advance(kTimeoutD);
    EXPECT_EQ(checks(b), n + 1);
  }


  struct PatternCase {
    std::string send, expect;  // expect is a pattern
    bool pass;
  };
  // One backend at `address` per case, checked with `base` and the case's
  // send and expect: each first check ends as the case says.
  void expect_pattern_outcomes(const SocketAddress& address, HealthCheckConfig base,
                               const std::vector<PatternCase>& cases) {
    base.expect_regex = true;
    std::vector<std::shared_ptr<Backend>> backends;
    std::vector<HealthChecker::Target> targets;
    for (const auto& k : cases) {
      HealthCheckConfig c = base;
      c.send = k.send;
      c.expect = k.expect;
      ASSERT_TRUE(nib::check(c).ok()) << nib::check(c).message();
      backends.push_back(make_backend(address));
      targets.push_back({"svc", backends.back(), c});
    }
    set_targets(targets);
    // The first checks go out; the clock stands still, so no timeout cuts a
    // 64 KiB round trip short however slow the machine.
    clock_.advance(kIntervalD);
    auto all_checked = [&] {
      return std::all_of(backends.begin(), backends.end(), [](const auto& b) { return checks(*b) > 0; });
    };
    ASSERT_TRUE(wait_until(all_checked, 10s));
    for (size_t i = 0; i < cases.size(); ++i) {
      HealthInfo h = backends[i]->health();
      EXPECT_EQ(h.last_check_ok, cases[i].pass) << "case " << i << ": " << h.last_check;
      EXPECT_EQ(h.last_check, cases[i].pass ? "reply matched" : "reply did not match") << "case " << i;
    }
  }

  test::ManualClock clock_;
  std::unique_ptr<HealthChecker> checker_;
  std::mutex mu_;
  std::vector<Change> changes_;
  uint32_t next_id_ = 1;
};

TEST_F(HealthCheckerTest, TcpCheckPassesAgainstALiveBackend) {
  TestBackend tb("a");
  auto b = make_backend(tb);
  watch(b, check(HealthCheckType::kTcp));
  check_once(*b);
  HealthInfo h = b->health();
  EXPECT_TRUE(h.checked);
  EXPECT_TRUE(h.last_check_ok);
  EXPECT_EQ(h.last_check, "ok");
  EXPECT_TRUE(b->health_up());
  EXPECT_EQ(b->state(), BackendState::kUp);
  EXPECT_TRUE(changes().empty());
}

TEST_F(HealthCheckerTest, ChecksStartOneIntervalApartOnTheClock) {
  TestBackend tb("a");
  auto b = make_backend(tb);
  watch(b, check(HealthCheckType::kTcp));
  check_once(*b);
  // Half an interval on: the next check is not due yet.
  clock_.advance(kIntervalD / 2);
  EXPECT_EQ(checks(*b), 1u);
  clock_.advance(kIntervalD / 2);
  ASSERT_TRUE(wait_until([&] { return checks(*b) == 2; }));
  EXPECT_TRUE(wait_until([&] { return tb.accepted() == 2; }));
}

TEST_F(HealthCheckerTest, TcpCheckDetectsAStoppedBackendWithinFallAndRecoversWithinRise) {
  TestBackend tb("a");
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kTcp, /*rise=*/3, /*fall=*/2);
  watch(b, c);
  check_once(*b);
  tb.stop();
  // Exactly `fall` failed checks (fall intervals) take it down.
  check_once(*b);
  EXPECT_TRUE(b->health_up()) << "down after 1 of 2 failures";
  check_once(*b);
  ASSERT_FALSE(b->health_up());
  EXPECT_EQ(b->state(), BackendState::kDown);
  HealthInfo h = b->health();
  EXPECT_NE(h.reason.find("2 check(s) failed: connect: Connection refused"), std::string::npos) << h.reason;
  EXPECT_NE(h.changed.time_since_epoch().count(), 0);
  EXPECT_FALSE(b->usable_for_new(clock_.now()));
  EXPECT_FALSE(b->usable_for_returning(clock_.now()));

  // Exactly `rise` passes bring it back.
  ASSERT_TRUE(tb.start().ok());
  check_once(*b);
  check_once(*b);
  EXPECT_FALSE(b->health_up()) << "up after 2 of 3 passes";
  check_once(*b);
  ASSERT_TRUE(b->health_up());
  EXPECT_NE(b->health().reason.find("3 check(s) passed"), std::string::npos);
  EXPECT_TRUE(b->usable_for_new(clock_.now()));

  auto seen = changes();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_FALSE(seen[0].up);
  EXPECT_TRUE(seen[1].up);
  EXPECT_EQ(seen[0].service, "svc");
  EXPECT_EQ(seen[0].id, b->id());
}

TEST_F(HealthCheckerTest, ABackendDeadAtStartLeavesAfterItsFirstFailedCheck) {
  TestBackend tb("a");
  tb.stop();
  auto b = make_backend(tb);
  watch(b, check(HealthCheckType::kTcp, 2, /*fall=*/5));
  // One failure suffices the first time (fall would need 5 intervals).
  check_once(*b);
  EXPECT_FALSE(b->health_up());
  EXPECT_EQ(b->health().reason, "first check failed: connect: Connection refused");
}

TEST_F(HealthCheckerTest, ComingBackUpBeginsSlowStartOnTheCheckersClock) {
  TestBackend tb("a");
  tb.stop();
  auto b = make_backend(tb);
  watch(b, check(HealthCheckType::kTcp, /*rise=*/1));
  check_once(*b);
  ASSERT_FALSE(b->health_up());
  ASSERT_TRUE(tb.start().ok());
  check_once(*b);
  ASSERT_TRUE(b->health_up());
  EXPECT_EQ(b->slow_start_began_ns(), clock_.now().time_since_epoch().count());
}

TEST_F(HealthCheckerTest, HttpCheckPassesOn200AndFailsOn500) {
  TestBackend tb("web", BackendMode::kHttp);
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kHttp);
  c.path = "/healthz";
  watch(b, c);
  check_once(*b);
  EXPECT_EQ(b->health().last_check, "status 200");
  EXPECT_TRUE(b->health_up());
  EXPECT_GE(tb.http_requests(), 1u);

  tb.set_mode(BackendMode::kHttpError);
  check_once(*b);
  EXPECT_TRUE(b->health_up());
  check_once(*b);
  ASSERT_FALSE(b->health_up());
  EXPECT_NE(b->health().reason.find("status 500"), std::string::npos) << b->health().reason;

  tb.set_mode(BackendMode::kHttp);
  check_once(*b);
  EXPECT_FALSE(b->health_up());
  check_once(*b);
  EXPECT_TRUE(b->health_up());
}

TEST_F(HealthCheckerTest, HttpExpectedStatusRangeIsConfigurable) {
  TestBackend tb("web", BackendMode::kHttpError);
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kHttp);
  c.status_min = 500;
  c.status_max = 503;
  watch(b, c);
  check_once(*b);
  EXPECT_TRUE(b->health().last_check_ok);
  EXPECT_TRUE(b->health_up());
}

TEST_F(HealthCheckerTest, HttpCheckTimesOutOnABackendThatAcceptsAndNeverReplies) {
  TestBackend tb("mute", BackendMode::kSilent);
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kHttp);
  watch(b, c);
  check_times_out(*b);  // the first failure at startup takes it down
  ASSERT_FALSE(b->health_up());
  EXPECT_NE(b->health().reason.find("timeout after 1000 ms"), std::string::npos) << b->health().reason;
  EXPECT_EQ(b->health().last_check_ms, 1000);  // measured on the checker's clock
  EXPECT_TRUE(wait_until([&] { return tb.accepted() >= 1; }));
}

TEST_F(HealthCheckerTest, TcpCheckPassesOnABackendThatAcceptsAndNeverReplies) {
  // A tcp check only asks for the connect: documented, and this pins it.
  TestBackend tb("mute", BackendMode::kSilent);
  auto b = make_backend(tb);
  watch(b, check(HealthCheckType::kTcp));
  check_once(*b);
  EXPECT_TRUE(b->health().last_check_ok);
}

TEST_F(HealthCheckerTest, HttpBodySubstringDecides) {
  TestBackend tb("alive-and-well", BackendMode::kHttp);
  auto good = make_backend(tb);
  auto c = check(HealthCheckType::kHttp);
  c.body_contains = "and-well";
  auto bad_cfg = c;
  bad_cfg.body_contains = "sick";
  auto bad = make_backend(tb);
  set_targets({{"svc", good, c}, {"svc", bad, bad_cfg}});
  check_once({good.get(), bad.get()});
  EXPECT_FALSE(bad->health_up());
  EXPECT_NE(bad->health().reason.find("body lacks 'sick'"), std::string::npos) << bad->health().reason;
  EXPECT_TRUE(good->health_up());
  EXPECT_EQ(good->health().last_check, "status 200, body matched");
}

TEST_F(HealthCheckerTest, HostHeaderAndMethodAreSent) {
  // kHttp answers any method; a malformed request line would get no reply.
  TestBackend tb("web", BackendMode::kHttp);
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kHttp);
  c.method = "HEAD";
  c.host_header = "app.example";
  watch(b, c);
  check_once(*b);
  EXPECT_TRUE(b->health().last_check_ok) << b->health().last_check;
}

TEST_F(HealthCheckerTest, SendExpectMatchesBytesOrARegex) {
  // kEcho greets with "<name>\n", then echoes what it gets.
  TestBackend tb("greeter");
  auto echo = make_backend(tb);
  auto banner = make_backend(tb);
  auto wrong = make_backend(tb);
  auto c = check(HealthCheckType::kSendExpect);
  c.send = "PING\r\n";
  c.expect = "PING\r\n";
  auto banner_cfg = check(HealthCheckType::kSendExpect);
  banner_cfg.expect = "^greet(er)?\n";  // nothing sent: the greeting is the reply
  banner_cfg.expect_regex = true;
  auto wrong_cfg = c;
  wrong_cfg.expect = "PONG";
  set_targets({{"svc", echo, c}, {"svc", banner, banner_cfg}, {"svc", wrong, wrong_cfg}});
  clock_.advance(kIntervalD);
  ASSERT_TRUE(wait_until([&] { return checks(*echo) == 1 && checks(*banner) == 1; }));
  // The echo never says PONG and never closes: the timeout decides that one.
  EXPECT_EQ(checks(*wrong), 0u);
  clock_.advance(kTimeoutD);
  EXPECT_EQ(checks(*wrong), 1u);
  EXPECT_TRUE(echo->health().last_check_ok) << echo->health().last_check;
  EXPECT_EQ(echo->health().last_check, "reply matched");
  EXPECT_TRUE(banner->health().last_check_ok) << banner->health().last_check;
  EXPECT_FALSE(wrong->health_up());
  EXPECT_NE(wrong->health().reason.find("timeout"), std::string::npos) << wrong->health().reason;
  EXPECT_TRUE(echo->health_up());
}

// Issue 17, finding 1: std::regex_search recursed per byte and a 32 KiB
// reply crashed nib. The reply is the echo of what the check sends, after
// the greeting "big\n"; a check reads at most limits::kMaxCheckReplyBytes.
TEST_F(HealthCheckerTest, SendExpectPatternsOnRepliesUpTo64KiB) {
  TestBackend tb("big");
  constexpr size_t kCap = limits::kMaxCheckReplyBytes;
  expect_pattern_outcomes(tb.address(), check(HealthCheckType::kSendExpect),
                          {
                              {std::string(32 << 10, 'x') + "OK\n", ".*OK", true},
                              {std::string(kCap - 100, 'x') + "OK", "^big\n(x|xx)+OK", true},
                              // Past the cap the rest is never looked at: judged on 64 KiB, at once.
                              {std::string(80 << 10, 'x'), "(x|xx)*y", false},
                              {std::string(kCap, 'x') + "OK", "OK", false},
                          });
}

// The same over UDP, up to the largest datagram IPv4 carries (65,507 bytes):
// the whole datagram is read, and $ matches at its end.
TEST_F(HealthCheckerTest, UdpPatternsOnDatagramsUpTo64KiB) {
  test::TestUdpBackend ub("u", test::TestUdpBackend::Mode::kEcho);
  constexpr size_t kLargest = 65507;
  expect_pattern_outcomes(ub.address(), check(HealthCheckType::kUdp),
                          {
                              {std::string(32 << 10, 'x') + "OK", ".*OK", true},
                              {std::string(kLargest - 2, 'x') + "OK", "^(x|xx)+OK$", true},
                              {std::string(kLargest, 'x'), "(x|xx)*y", false},
                              {std::string(kLargest, 'x'), "^x{1000}", true},
                          });
}

TEST_F(HealthCheckerTest, SendExpectDetectsAStoppedBackend) {
  TestBackend tb("a");
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kSendExpect);
  c.expect = "a\n";
  watch(b, c);
  check_once(*b);
  EXPECT_TRUE(b->health().last_check_ok);
  tb.stop();
  check_once(*b);
  check_once(*b);
  EXPECT_FALSE(b->health_up());
  ASSERT_TRUE(tb.start().ok());
  check_once(*b);
  check_once(*b);
  EXPECT_TRUE(b->health_up());
}

TEST_F(HealthCheckerTest, RiseAndFallDampFlapping) {
  // fall 3: the failures never add up, as a pass comes between them.
  TestBackend tb("a");
  auto b = make_backend(tb);
  watch(b, check(HealthCheckType::kTcp, 2, /*fall=*/3));
  check_once(*b);
  for (int i = 0; i < 3; ++i) {
    tb.stop();
    check_once(*b);
    check_once(*b);
    EXPECT_FALSE(b->health().last_check_ok);
    ASSERT_TRUE(tb.start().ok());
    check_once(*b);
    EXPECT_TRUE(b->health().last_check_ok);
  }
  EXPECT_TRUE(b->health_up());
  EXPECT_TRUE(changes().empty());
}

TEST_F(HealthCheckerTest, RemovingTheCheckBringsTheBackendBack) {
  TestBackend tb("a");
  tb.stop();
  auto b = make_backend(tb);
  watch(b, check(HealthCheckType::kTcp));
  check_once(*b);
  ASSERT_FALSE(b->health_up());
  set_targets({});
  ASSERT_TRUE(wait_until([&] { return b->health_up(); }));
  EXPECT_FALSE(b->health().checked);
  EXPECT_EQ(b->health().reason, "health check removed");
  auto seen = changes();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_TRUE(seen[1].up);
}

TEST_F(HealthCheckerTest, AChangedConfigKeepsTheBackendsState) {
  TestBackend tb("a");
  tb.stop();
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kTcp);
  watch(b, c);
  check_once(*b);
  ASSERT_FALSE(b->health_up());
  c.rise = 3;
  watch(b, c);
  ASSERT_TRUE(tb.start().ok());
  check_once(*b);
  check_once(*b);
  EXPECT_TRUE(b->health().last_check_ok);
  EXPECT_FALSE(b->health_up()) << "the new rise is 3";
  check_once(*b);
  EXPECT_TRUE(b->health_up());
}

TEST_F(HealthCheckerTest, SourceAddressIsUsed) {
  TestBackend tb("a");
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kTcp);
  c.source = *SocketAddress::parse("127.0.0.77:0");
  watch(b, c);
  check_once(*b);
  ASSERT_TRUE(wait_until([&] { return !tb.peer_ips().empty(); }));
  EXPECT_EQ(tb.peer_ips()[0], "127.0.0.77");
}

TEST_F(HealthCheckerTest, UdpCheckPassesOnAReplyAndFailsWhileThePortIsClosed) {
  test::TestUdpBackend ub("u");
  auto b = make_backend(ub);
  auto c = check(HealthCheckType::kUdp);
  c.send = "ping";
  watch(b, c);
  check_once(*b);
  EXPECT_TRUE(b->health().last_check_ok) << b->health().last_check;
  EXPECT_EQ(b->health().last_check, "reply received");
  EXPECT_GE(ub.received(), 1u);

  ub.stop();  // datagrams now draw ICMP port unreachable
  check_once(*b);
  EXPECT_TRUE(b->health_up());
  check_once(*b);
  ASSERT_FALSE(b->health_up());
  EXPECT_NE(b->health().reason.find("port unreachable"), std::string::npos) << b->health().reason;

  ASSERT_TRUE(ub.start().ok());
  check_once(*b);
  check_once(*b);
  EXPECT_TRUE(b->health_up());
}

TEST_F(HealthCheckerTest, UdpCheckTimesOutOnAServerThatNeverAnswers) {
  test::TestUdpBackend ub("u", test::TestUdpBackend::Mode::kSilent);
  auto b = make_backend(ub);
  auto c = check(HealthCheckType::kUdp);
  watch(b, c);
  check_times_out(*b);
  ASSERT_FALSE(b->health_up());
  EXPECT_NE(b->health().reason.find("timeout after 1000 ms"), std::string::npos) << b->health().reason;
  EXPECT_TRUE(wait_until([&] { return ub.received() >= 1; }));  // the empty payload was sent all the same

  ub.set_mode(test::TestUdpBackend::Mode::kReply);
  check_once(*b);
  check_once(*b);
  EXPECT_TRUE(b->health_up());
}

TEST_F(HealthCheckerTest, UdpCheckMatchesTheReplyAsBytesOrARegex) {
  // The backend answers "u <payload>".
  test::TestUdpBackend ub("u");
  auto bytes = make_backend(ub);
  auto regex = make_backend(ub);
  auto wrong = make_backend(ub);
  auto c = check(HealthCheckType::kUdp);
  c.send = "PING";
  c.expect = "u PING";
  auto regex_cfg = c;
  regex_cfg.expect = "^u P[A-Z]+$";
  regex_cfg.expect_regex = true;
  auto wrong_cfg = c;
  wrong_cfg.expect = "PONG";
  set_targets({{"svc", bytes, c}, {"svc", regex, regex_cfg}, {"svc", wrong, wrong_cfg}});
  check_once({bytes.get(), regex.get(), wrong.get()});
  EXPECT_EQ(bytes->health().last_check, "reply matched");
  EXPECT_EQ(regex->health().last_check, "reply matched");
  EXPECT_FALSE(wrong->health().last_check_ok);
  EXPECT_EQ(wrong->health().last_check, "reply did not match");
  EXPECT_FALSE(wrong->health_up());
  EXPECT_TRUE(bytes->health_up());
  EXPECT_TRUE(regex->health_up());
}

// A slow backend: it accepts and answers, but only after longer than the
// check's timeout. Down after exactly `fall` timed-out checks; up after
// exactly `rise` passes once it is fast again.
TEST_F(HealthCheckerTest, HttpCheckFindsASlowBackendDownAndFastAgainUp) {
  TestBackend tb("web", BackendMode::kHttp);
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kHttp, /*rise=*/2, /*fall=*/3);
  watch(b, c);
  check_once(*b);
  ASSERT_TRUE(b->health().last_check_ok);
  tb.set_reply_delay(1h);  // real time: never within the test
  check_times_out(*b);
  check_times_out(*b);
  EXPECT_TRUE(b->health_up());
  check_times_out(*b);
  ASSERT_FALSE(b->health_up());
  EXPECT_NE(b->health().reason.find("3 check(s) failed: timeout after 1000 ms"), std::string::npos)
      << b->health().reason;
  EXPECT_TRUE(wait_until([&] { return tb.accepted() >= 4; }));  // it did accept: slow, not dead

  tb.set_reply_delay(Duration::zero());
  check_once(*b);
  EXPECT_FALSE(b->health_up());
  check_once(*b);
  EXPECT_TRUE(b->health_up());
  EXPECT_EQ(b->health().last_check, "status 200");
}

TEST_F(HealthCheckerTest, SendExpectCheckFindsASlowBackendDownAndFastAgainUp) {
  TestBackend tb("slow");  // kEcho greets with "slow\n"
  auto b = make_backend(tb);
  auto c = check(HealthCheckType::kSendExpect, /*rise=*/2, /*fall=*/2);
  c.expect = "slow\n";
  watch(b, c);
  check_once(*b);
  ASSERT_TRUE(b->health().last_check_ok);
  tb.set_reply_delay(1h);
  check_times_out(*b);
  check_times_out(*b);
  ASSERT_FALSE(b->health_up());
  EXPECT_NE(b->health().reason.find("timeout after 1000 ms"), std::string::npos) << b->health().reason;

  tb.set_reply_delay(Duration::zero());
  check_once(*b);
  check_once(*b);
  EXPECT_TRUE(b->health_up());
  EXPECT_EQ(b->health().last_check, "reply matched");
}

TEST(HealthCheckConfigTest, UdpChecksAreForUdpServicesAndTheOthersForTcpServices) {
  HealthCheckConfig udp;
  udp.type = HealthCheckType::kUdp;
  EXPECT_TRUE(check(udp).ok());  // no payload, any reply: allowed
  EXPECT_TRUE(check_for(udp, Protocol::kUdp).ok());
  EXPECT_EQ(check_for(udp, Protocol::kTcp).message(), "type: udp checks apply to udp services only (protocol: udp)");
  HealthCheckConfig http;
  http.type = HealthCheckType::kHttp;
  EXPECT_EQ(check_for(http, Protocol::kUdp).message(),
            "an http check connects over TCP; a udp service takes type: udp checks");
  EXPECT_TRUE(check_for(http, Protocol::kTcp).ok());
  udp.expect_regex = true;
  EXPECT_EQ(check(udp).message(), "expect_regex needs a non-empty expect");
  udp.expect = "(";
  EXPECT_NE(check(udp).message().find("not a valid regex"), std::string::npos);

  DataplaneConfig dc;
  ServiceConfig s;
  s.name = "dns";
  s.protocol = Protocol::kUdp;
  s.health_check = HealthCheckConfig{};  // tcp
  dc.services = {s};
  EXPECT_EQ(validate(dc).message(),
            "service 'dns': health_check: a tcp check connects over TCP; a udp service takes type: udp checks");
  dc.services[0].health_check->type = HealthCheckType::kUdp;
  EXPECT_TRUE(validate(dc).ok()) << validate(dc).message();
}

TEST(HealthCheckConfigTest, RejectsBadValuesWithTheFieldName) {
  HealthCheckConfig c;
  EXPECT_TRUE(check(c).ok());
  c.interval_seconds = -1;
  EXPECT_NE(check(c).message().find("interval"), std::string::npos);
  c.interval_seconds = 1;
  c.timeout_seconds = 1;
  EXPECT_NE(check(c).message().find("timeout (1.000000 s) must be less than interval"), std::string::npos);
  c.timeout_seconds = 0.5;
  c.fall = 0;
  EXPECT_NE(check(c).message().find("fall"), std::string::npos);
  c.fall = 3;
  c.type = HealthCheckType::kHttp;
  c.path = "healthz";
  EXPECT_NE(check(c).message().find("path"), std::string::npos);
  c.path = "/";
  c.status_min = 400;
  c.status_max = 300;
  EXPECT_NE(check(c).message().find("status"), std::string::npos);
  c.type = HealthCheckType::kSendExpect;
  EXPECT_EQ(check(c).message(), "expect must not be empty for a send-expect check");
  c.expect = "[";
  c.expect_regex = true;
  EXPECT_NE(check(c).message().find("not a valid regex"), std::string::npos);
}

}  // namespace
}  // namespace nib
