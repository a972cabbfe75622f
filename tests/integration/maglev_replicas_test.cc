// Two real nib processes, one configuration each listing the same backends in
// another order, mode maglev: every client reaches the same backend through
// either (what replicas behind a Kubernetes Service or VRRP need).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>

#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::TestBackend;

class MaglevReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override { NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built"); }

  // nib -f with `yaml` (no admin plane: parallel tests would fight over its ports).
  std::unique_ptr<test::NibProcess> start(const std::string& name, const std::string& yaml) {
    const std::string config = dir_.write_file(name + ".yaml", yaml);
    const std::string pid_file = dir_.file(name + ".pid");
    return test::start_until_pid_file({"-f", "--no-admin", "-p", pid_file, "--config", config}, pid_file);
  }
  static std::string yaml(uint16_t port, const std::string& policy, const std::vector<const TestBackend*>& backends) {
    std::string y = "services:\n  - name: web\n    listen: 127.0.0.1:" + std::to_string(port) +
                    "\n    policy: " + policy + "\n    backends:\n";
    for (const auto* b : backends) y += "      - 127.0.0.1:" + std::to_string(b->port()) + "\n";
    return y;
  }

  test::TempDir dir_;
};

// 127.0.3.2 ... 127.0.3.201: 200 distinct client IPs on loopback.
std::string client_ip(int i) { return "127.0.3." + std::to_string(i + 2); }

TEST_F(MaglevReplicasTest, TwoReplicasSendEveryClientToTheSameBackend) {
  std::vector<std::unique_ptr<TestBackend>> owned;
  for (int i = 0; i < 5; ++i) owned.push_back(std::make_unique<TestBackend>("b" + std::to_string(i)));
  std::vector<const TestBackend*> order;
  for (const auto& b : owned) order.push_back(b.get());
  std::vector<const TestBackend*> reversed(order.rbegin(), order.rend());
  std::swap(reversed[0], reversed[2]);  // not merely mirrored

  int round = 0;
  for (const std::string policy : {"{mode: maglev}", "{mode: affinity, consistent: true}"}) {
    SCOPED_TRACE(policy);
    ++round;  // fresh pid files: start() waits for its file to appear
    const uint16_t port_a = test::free_port();
    auto a = start("a" + std::to_string(round), yaml(port_a, policy, order));
    ASSERT_TRUE(a);
    const uint16_t port_b = test::free_port();
    auto b = start("b" + std::to_string(round), yaml(port_b, policy, reversed));
    ASSERT_TRUE(b);
    const SocketAddress lb_a = *SocketAddress::parse("127.0.0.1:" + std::to_string(port_a));
    const SocketAddress lb_b = *SocketAddress::parse("127.0.0.1:" + std::to_string(port_b));

    int disagreements = 0;
    std::map<std::string, int> per_backend;
    for (int i = 0; i < 200; ++i) {
      auto via_a = test::who_serves(lb_a, client_ip(i));
      auto via_b = test::who_serves(lb_b, client_ip(i));
      ASSERT_TRUE(via_a.ok()) << client_ip(i) << ": " << via_a.status().message();
      ASSERT_TRUE(via_b.ok()) << client_ip(i) << ": " << via_b.status().message();
      if (*via_a != *via_b) ++disagreements;
      ++per_backend[*via_a];
    }
    EXPECT_EQ(disagreements, 0);
    EXPECT_EQ(per_backend.size(), 5u) << "every backend takes some of the 200 clients";
  }
}

}  // namespace
}  // namespace nib
