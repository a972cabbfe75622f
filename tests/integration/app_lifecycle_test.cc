// The App's lifetimes with the real binary (issue 16, item 3): a start that
// fails at any component exits 2 with a message naming it, after stopping what
// had started (the state writer and the control port used to outlive the
// dataplane they read); SIGTERM while admin readers hammer REST, /metrics and
// gRPC ends with 0 within the grace period (the HTTP admin server used to stop
// after the dataplane had cleared the workers its handlers read). Built with
// -DNIB_SANITIZE=ON, a use-after-free or a leak on these paths shows in the
// output, which each test checks.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
using test::TestBackend;
using test::TestClient;
namespace v1 = nib::admin::v1;

constexpr int kGraceSeconds = 20;

std::string loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// What a sanitizer build prints on a use-after-free, a leak or undefined
// behaviour; never in a clean run's output.
void expect_no_sanitizer_report(const std::string& output) {
  EXPECT_EQ(output.find("Sanitizer"), std::string::npos) << output;
  EXPECT_EQ(output.find("runtime error:"), std::string::npos) << output;
}

class AppLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override { NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built"); }

  // Pen's command line with every component on: --state, gRPC, the control
  // port and HTTP, each on a free port unless `override` names it. The tests
  // run as root: the control port needs --allow-root-control.
  std::vector<std::string> args(const std::vector<std::string>& extra) {
    std::vector<std::string> a = {"-f", "--shutdown-grace", std::to_string(kGraceSeconds), "--state", state_, "-p", pid_file_,
                                  "--allow-root-control"};
    a.insert(a.end(), extra.begin(), extra.end());
    a.insert(a.end(), {loopback(lb_port_), loopback(backend_.port())});
    return a;
  }
  // Runs nib to its (failed) end: exit 2, `message` in the output, no pid file.
  void expect_start_fails(const std::vector<std::string>& extra, const std::string& message) {
    auto r = test::run_nib(args(extra), 60s);  // generous: sanitizer builds start slowly
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("cannot start: " + message), std::string::npos) << r.output;
    EXPECT_FALSE(test::read_file(pid_file_).ok()) << "a failed start wrote its pid file";
    expect_no_sanitizer_report(r.output);
  }

  TestBackend backend_{"b0"};
  TestBackend taken_{"taken"};  // a port nib cannot bind (no SO_REUSEPORT)
  test::TempDir dir_;
  const std::string state_ = dir_.file("nib.state");
  const std::string pid_file_ = dir_.file("nib.pid");
  const uint16_t lb_port_ = test::free_port();
};

// HTTP starts last: the dataplane, the state writer, gRPC and the control
// port's thread are all running when it fails.
TEST_F(AppLifecycleTest, BusyAdminHttpPortWithStateStopsEverythingThatStarted) {
  expect_start_fails({"-C", loopback(test::free_port()), "--admin-grpc", loopback(test::free_port()), "--admin-http",
                      loopback(taken_.port())},
                     "admin HTTP: cannot listen on " + loopback(taken_.port()));
}

TEST_F(AppLifecycleTest, BusyAdminGrpcPortWithStateStopsTheStateWriterAndTheDataplane) {
  expect_start_fails({"-C", loopback(test::free_port()), "--admin-http", loopback(test::free_port()), "--admin-grpc",
                      loopback(taken_.port())},
                     "admin gRPC: cannot listen on " + loopback(taken_.port()));
}

TEST_F(AppLifecycleTest, BusyControlPortStopsGrpcTheStateWriterAndTheDataplane) {
  expect_start_fails({"--admin-http", loopback(test::free_port()), "--admin-grpc", loopback(test::free_port()), "-C",
                      loopback(taken_.port())},
                     "control port (-C): cannot listen on " + loopback(taken_.port()));
}

TEST_F(AppLifecycleTest, BadTlsFileStopsTheStateWriterAndTheDataplane) {
  std::string bad = dir_.write_file("bad.pem", "not a certificate\n");
  expect_start_fails({"-C", loopback(test::free_port()), "--admin-http", loopback(test::free_port()), "--admin-grpc",
                      loopback(test::free_port()), "--admin-tls-cert", bad, "--admin-tls-key", bad},
                     "admin TLS: ");
}

TEST_F(AppLifecycleTest, UnwritableStateFileStopsTheStartBeforeAnythingBinds) {
  ASSERT_EQ(::mkdir(dir_.file("ro").c_str(), 0500), 0);
  const bool root = ::geteuid() == 0;  // root writes anywhere: use a path under a missing directory
  const std::string state = root ? dir_.file("missing/nib.state") : dir_.file("ro/nib.state");
  auto a = args({"--admin-http", loopback(test::free_port()), "--admin-grpc", loopback(test::free_port())});
  for (auto& s : a) {
    if (s == state_) s = state;
  }
  auto r = test::run_nib(a, 60s);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot start: state file " + state + ": cannot create"), std::string::npos) << r.output;
  expect_no_sanitizer_report(r.output);
  // Nothing bound: the balancing port is free again at once.
  EXPECT_FALSE(TestClient::connect(*SocketAddress::from_ip("127.0.0.1", lb_port_), "", 1s).ok());
}

// Readers in loops on all three admin APIs, SIGTERM in the middle of them.
TEST_F(AppLifecycleTest, SigtermDuringAStormOfAdminReadsExitsZeroWithinTheGracePeriod) {
  const uint16_t http_port = test::free_port(), grpc_port = test::free_port();
  auto started = NibProcess::start(
      args({"--admin-http", loopback(http_port), "--admin-grpc", loopback(grpc_port), "-C",
            loopback(test::free_port())}));
  ASSERT_TRUE(started.ok()) << started.status().message();
  auto& nib = *started;
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(pid_file_).ok() || !nib->running(); }, 60s));
  ASSERT_TRUE(nib->running()) << nib->output();
  // A client connection open through the shutdown, so the drain has something to wait for.
  auto held = TestClient::connect(*SocketAddress::from_ip("127.0.0.1", lb_port_), "127.0.0.9");
  ASSERT_TRUE(held.ok()) << held.status().message();
  // Relayed, not just queued on the listener, which the drain closes.
  ASSERT_TRUE(test::wait_until([&] { return backend_.active() >= 1; }, 30s));

  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::vector<std::thread> readers;
  for (const char* path : {"/api/v1/backends", "/api/v1/services", "/metrics", "/api/v1/stats"}) {
    readers.emplace_back([&, path] {
      for (int i = 0; i < 100000 && !stop.load(); ++i) {
        auto c = TestClient::connect(*SocketAddress::from_ip("127.0.0.1", http_port));
        if (!c.ok()) continue;  // after the listener closed
        if (!c->write_all(std::string("GET ") + path + " HTTP/1.1\r\nHost: nib\r\nConnection: close\r\n\r\n").ok())
          continue;
        auto r = c->read_http_response();
        if (r.ok() && r->status == 200) answered.fetch_add(1);
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      grpc::ChannelArguments channel_args;
      channel_args.SetInt("nib.test.channel", t);  // a connection of its own
      auto stub = v1::Admin::NewStub(
          grpc::CreateCustomChannel(loopback(grpc_port), grpc::InsecureChannelCredentials(), channel_args));
      for (int i = 0; i < 100000 && !stop.load(); ++i) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + 2s);
        v1::ListBackendsResponse list;
        if (stub->ListBackends(&context, v1::ListBackendsRequest(), &list).ok()) answered.fetch_add(1);
      }
    });
  }
  // Signal only once the readers get through, so the storm is on.
  EXPECT_TRUE(test::wait_until([&] { return answered.load() >= 200; }, 60s)) << answered.load();
  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  // The admin plane stays up through the drain: the storm goes on while the
  // held connection keeps nib draining; closing it lets the stop proceed.
  EXPECT_TRUE(nib->wait_for_output("shutting down", 30s)) << nib->output();
  const int before_close = answered.load();
  EXPECT_TRUE(test::wait_until([&] { return answered.load() >= before_close + 50; }, 30s));
  held->close();
  auto exit_code = nib->wait_exit(std::chrono::seconds(kGraceSeconds));
  stop.store(true);
  for (auto& r : readers) r.join();
  EXPECT_EQ(exit_code, 0) << nib->output();
  EXPECT_NE(nib->output().find("INFO stopped\n"), std::string::npos) << "not a clean stop:\n" << nib->output();
  EXPECT_FALSE(test::read_file(pid_file_).ok()) << "the pid file outlived nib";
  expect_no_sanitizer_report(nib->output());
}

}  // namespace
}  // namespace nib
