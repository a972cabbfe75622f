// nib -C with Pen's own penctl program (Debian's pen package): replies, and
// the exit status scripts rely on. penctl exits non-zero only when its read
// fails, so a failed command must end in a reset after its error line.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;

constexpr const char* kPenctl = "/usr/bin/penctl";

struct Penctl {
  int exit_code = -1;
  std::string out;
};

class PenctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
    NIB_REQUIRE(::access(kPenctl, X_OK) == 0, "no /usr/bin/penctl (Debian's pen: scripts/install-deps.sh --test)");
    control_ = "127.0.0.1:" + std::to_string(test::free_port());
    auto nib = NibProcess::start({"-f", "-p", dir_.file("nib.pid"), "-C", control_,
                                  "127.0.0.1:" + std::to_string(test::free_port()),
                                  "127.0.0.1:" + std::to_string(b0_.port()), "127.0.0.1:" + std::to_string(b1_.port())});
    ASSERT_TRUE(nib.ok()) << nib.status().message();
    nib_ = std::move(*nib);
    ASSERT_TRUE(test::wait_until([&] { return test::read_file(dir_.file("nib.pid")).ok() || !nib_->running(); }, 10s));
    ASSERT_TRUE(nib_->running()) << nib_->output();
  }

  Penctl penctl(std::vector<std::string> args) {
    args.insert(args.begin(), control_);
    auto p = NibProcess::start_program(kPenctl, args);
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return {};
    auto code = (*p)->wait_exit(10s);
    (*p)->wait_output_closed(5s);
    return {code.value_or(-9), (*p)->stdout_output()};
  }

  test::TempDir dir_;
  test::TestBackend b0_{"b0"}, b1_{"b1"};
  std::string control_;
  std::unique_ptr<NibProcess> nib_;
};

TEST_F(PenctlTest, PensPenctlDrivesNib) {
  auto ok = [&](std::vector<std::string> args) {
    Penctl r = penctl(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.out;
    return r.out;
  };
  EXPECT_EQ(ok({"server", "1", "weight", "3"}), "");
  std::string servers = ok({"servers"});
  EXPECT_NE(servers.find("1 addr 127.0.0.1 port " + std::to_string(b1_.port()) + " conn 0 max 0 hard 0 weight 3"),
            std::string::npos)
      << servers;
  EXPECT_EQ(ok({"roundrobin"}), "");
  EXPECT_EQ(ok({"mode"}), "no hash roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(ok({"hash"}), "");
  EXPECT_EQ(ok({"mode"}), "hash roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(ok({"pid"}), std::to_string(nib_->pid()) + "\n");
  EXPECT_EQ(ok({"client_acl", "0"}), "0\n");
  EXPECT_EQ(ok({"control"}), control_ + "\n");
}

// Unsupported, unknown and malformed commands: one error line on stdout, and
// penctl exits non-zero, so `penctl host:port cmd || ...` works in scripts.
TEST_F(PenctlTest, FailedCommandsMakePenctlExitNonZero) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  } cases[] = {
      {{"close", "0"}, "error: 'close' is not yet supported by nib"},
      {{"no", "http"}, "error: 'no http' is not yet supported by nib"},
      {{"kqueue"}, "error: 'kqueue' is not supported by nib: it always uses epoll"},
      {{"bogus"}, "error: unknown command 'bogus'"},
      {{"server", "9", "weight", "1"}, "error: no server 9"},
      {{"tracking", "soon"}, "error: tracking: expected a non-negative integer"},
      {{"acl", "0", "deny", "country", "SE"}, "error: 'acl N permit|deny country CC' is not yet supported"},
  };
  for (const auto& c : cases) {
    Penctl r = penctl(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args[0] << ": " << r.out;
    EXPECT_EQ(r.out.rfind(c.says, 0), 0u) << c.args[0] << ": " << r.out;
  }
  EXPECT_EQ(penctl({"tracking"}).out, "0\n") << "nothing changed";
  EXPECT_TRUE(nib_->running()) << nib_->output();
}

}  // namespace
}  // namespace nib
