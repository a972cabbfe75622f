// DNS discovery against a real dnsmasq (tests/support/test_dnsmasq.h): what
// one lookup finds for each record type and each failure, and a DnsDiscovery
// applying the records to an in-process Dataplane.
#include "server/discovery/dns_discovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "dataplane/dataplane.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_client.h"
#include "tests/support/test_dnsmasq.h"

namespace nib {
namespace {

using namespace std::chrono_literals;

class DnsDiscoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::TestDnsmasq::installed(), "dnsmasq not installed (Debian package dnsmasq-base)");
    Status st = dns_.start("127.0.0.2 web.nib.test\n127.0.0.3 web.nib.test\n::2 web6.nib.test\n");
    ASSERT_TRUE(st.ok()) << st.message();
  }

  DnsDiscoveryConfig config(const std::string& name, DnsRecordType type = DnsRecordType::kA) {
    return DnsDiscoveryConfig{.service = "web",
                              .name = name,
                              .port = type == DnsRecordType::kSrv ? uint16_t{0} : uint16_t{8080},
                              .interval_seconds = 0.05,
                              .resolver = *SocketAddress::parse(dns_.address()),
                              .type = type};
  }

  static std::vector<std::string> addresses(const DnsLookup& found) {
    std::vector<std::string> out;
    for (const auto& b : found.backends) out.push_back(b.address.to_string());
    std::sort(out.begin(), out.end());
    return out;
  }

  test::TempDir dir_;
  test::TestDnsmasq dns_{dir_.path(),
                         {"--srv-host=_http._tcp.web.nib.test,target.nib.test,8081,3,7",
                          "--srv-host=_http._tcp.web.nib.test,other.nib.test,8082,1,0",
                          "--host-record=target.nib.test,127.0.0.5", "--host-record=other.nib.test,127.0.0.6"}};
};

TEST_F(DnsDiscoveryTest, ARecordsAreBackendsOnThePort) {
  DnsLookup found = dns_lookup(config("web.nib.test"));
  ASSERT_EQ(found.outcome, DnsOutcome::kOk) << found.detail;
  EXPECT_EQ(addresses(found), (std::vector<std::string>{"127.0.0.2:8080", "127.0.0.3:8080"}));
  EXPECT_EQ(found.backends[0].host, "web.nib.test");
  EXPECT_EQ(found.backends[0].weight, 1u);
}

TEST_F(DnsDiscoveryTest, AaaaRecords) {
  DnsLookup found = dns_lookup(config("web6.nib.test", DnsRecordType::kAaaa));
  ASSERT_EQ(found.outcome, DnsOutcome::kOk) << found.detail;
  EXPECT_EQ(addresses(found), (std::vector<std::string>{"[::2]:8080"}));
}

TEST_F(DnsDiscoveryTest, SrvRecordsBringTheirPortWeightAndPriority) {
  DnsLookup found = dns_lookup(config("_http._tcp.web.nib.test", DnsRecordType::kSrv));
  ASSERT_EQ(found.outcome, DnsOutcome::kOk) << found.detail;
  ASSERT_EQ(addresses(found), (std::vector<std::string>{"127.0.0.5:8081", "127.0.0.6:8082"}));
  for (const auto& b : found.backends) {
    if (b.address.port() == 8081) {
      EXPECT_EQ(b.host, "target.nib.test");
      EXPECT_EQ(b.prio, 3u);
      EXPECT_EQ(b.weight, 7u);
    } else {
      EXPECT_EQ(b.prio, 1u);
      EXPECT_EQ(b.weight, 1u) << "SRV weight 0 is nib's least weight that still takes clients";
    }
  }
}

TEST_F(DnsDiscoveryTest, FailuresSayWhich) {
  EXPECT_EQ(dns_lookup(config("missing.nib.test")).outcome, DnsOutcome::kNxdomain);
  EXPECT_EQ(dns_lookup(config("web.nib.test", DnsRecordType::kAaaa)).outcome, DnsOutcome::kNoData);
  dns_.stop();
  DnsLookup gone = dns_lookup(config("web.nib.test"));
  EXPECT_EQ(gone.outcome, DnsOutcome::kTimeout);
  EXPECT_FALSE(gone.detail.empty());
}

class DnsDiscoveryDataplaneTest : public DnsDiscoveryTest {
 protected:
  void SetUp() override {
    DnsDiscoveryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ServiceConfig s;
    s.name = "web";
    s.listen = *SocketAddress::parse("127.0.0.1:0");
    // A configured backend at an address DNS also gives: the operator's.
    s.backends.push_back(BackendConfig{.host = "127.0.0.3", .address = *SocketAddress::parse("127.0.0.3:8080")});
    DataplaneConfig c;
    c.workers = 1;
    c.services = {s};
    dataplane_ = std::make_unique<Dataplane>(c);
    ASSERT_TRUE(dataplane_->start().ok());
  }
  void TearDown() override {
    if (dataplane_) dataplane_->stop();
  }

  // "address source state" of every backend, sorted.
  std::vector<std::string> listing() {
    std::vector<std::string> out;
    const auto status = dataplane_->service("web");  // a temporary would end before the loop
    for (const auto& b : status->backends) {
      out.push_back(b.address.to_string() + " " + (b.source.empty() ? "-" : b.source) + " " +
                    to_string(b.admin_state));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  bool wait_for(const std::vector<std::string>& want) {
    bool ok = test::wait_until([&] { return listing() == want; }, 10s);
    if (!ok) {
      std::string got;
      for (const auto& s : listing()) got += s + "; ";
      ADD_FAILURE() << "backends: " << got;
    }
    return ok;
  }

  std::unique_ptr<Dataplane> dataplane_;
};

TEST_F(DnsDiscoveryDataplaneTest, FollowsTheRecordsAndLeavesTheOperatorsBackendsAlone) {
  DnsDiscovery discovery(*dataplane_, {config("web.nib.test")});
  ASSERT_TRUE(wait_for({"127.0.0.2:8080 dns enabled", "127.0.0.3:8080 - enabled"}));
  // Idle ones go at once when their record goes; the configured one stays.
  ASSERT_TRUE(dns_.publish("127.0.0.4 web.nib.test\n").ok());
  ASSERT_TRUE(wait_for({"127.0.0.3:8080 - enabled", "127.0.0.4:8080 dns enabled"}));
  // An outage keeps everything, and is counted.
  dns_.stop();
  ASSERT_TRUE(test::wait_until([&] { return discovery.stats()[0].lookups_failed >= 2; }, 10s));
  EXPECT_EQ(listing(), (std::vector<std::string>{"127.0.0.3:8080 - enabled", "127.0.0.4:8080 dns enabled"}));
  EXPECT_GE(discovery.stats()[0].lookups_ok, 2u);
  EXPECT_EQ(discovery.stats()[0].backends, 1u);
}

TEST_F(DnsDiscoveryDataplaneTest, SrvWeightsFollowTheRecords) {
  DnsDiscovery discovery(*dataplane_, {config("_http._tcp.web.nib.test", DnsRecordType::kSrv)});
  ASSERT_TRUE(wait_for({"127.0.0.3:8080 - enabled", "127.0.0.5:8081 dns enabled", "127.0.0.6:8082 dns enabled"}));
  const auto status = dataplane_->service("web");
  for (const auto& b : status->backends) {
    if (b.address.port() == 8081) {
      EXPECT_EQ(b.weight, 7u);
      EXPECT_EQ(b.prio, 3u);
    }
  }
}

// Destruction wakes the thread: a long interval does not hold it.
TEST_F(DnsDiscoveryDataplaneTest, StopsWithoutWaitingForTheNextLookup) {
  DnsDiscoveryConfig c = config("web.nib.test");
  c.interval_seconds = 86400;
  auto discovery = std::make_unique<DnsDiscovery>(*dataplane_, std::vector<DnsDiscoveryConfig>{c});
  ASSERT_TRUE(test::wait_until([&] { return discovery->stats()[0].lookups_ok == 1; }, 10s));
  discovery.reset();  // returns at once (the test's own timeout would catch a hang)
  EXPECT_EQ(listing(), (std::vector<std::string>{"127.0.0.2:8080 dns enabled", "127.0.0.3:8080 - enabled"}));
}

}  // namespace
}  // namespace nib
