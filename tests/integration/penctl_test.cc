// nib -C with Pen's own penctl program (Debian's pen package), when installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/support/nib_process.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;

constexpr const char* kPenctl = "/usr/bin/penctl";

TEST(PenctlTest, PensPenctlDrivesNib) {
  if (!test::nib_binary_exists() || ::access(kPenctl, X_OK) != 0) GTEST_SKIP() << "nib or penctl missing";
  test::TempDir dir;
  test::TestBackend b0("b0"), b1("b1");
  std::string control = "127.0.0.1:" + std::to_string(test::free_port());
  auto nib = NibProcess::start({"-p", dir.file("nib.pid"), "-C", control, "--admin-grpc", "127.0.0.1:0",
                                "--admin-http", "127.0.0.1:0", "127.0.0.1:" + std::to_string(test::free_port()),
                                "127.0.0.1:" + std::to_string(b0.port()), "127.0.0.1:" + std::to_string(b1.port())});
  ASSERT_TRUE(nib.ok()) << nib.status().message();
  ASSERT_TRUE(test::wait_until([&] { return test::read_file(dir.file("nib.pid")).ok() || !(*nib)->running(); }, 10s));
  ASSERT_TRUE((*nib)->running()) << (*nib)->output();
  auto penctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), control);
    auto p = NibProcess::start_program(kPenctl, args);
    EXPECT_TRUE(p.ok());
    if (!p.ok()) return std::string();
    (*p)->wait_exit(10s);
    (*p)->wait_output_closed(5s);
    return (*p)->stdout_output();
  };
  EXPECT_EQ(penctl({"server", "1", "weight", "3"}), "");
  std::string servers = penctl({"servers"});
  EXPECT_NE(servers.find("1 addr 127.0.0.1 port " + std::to_string(b1.port()) + " conn 0 max 0 hard 0 weight 3"),
            std::string::npos)
      << servers;
  EXPECT_EQ(penctl({"roundrobin"}), "");
  EXPECT_EQ(penctl({"mode"}), "no hash roundrobin no stubborn no weight no prio\n");
  EXPECT_EQ(penctl({"pid"}), std::to_string((*nib)->pid()) + "\n");
}

}  // namespace
}  // namespace nib
