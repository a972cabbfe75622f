// A service's client ACL over real loopback sockets: distinct clients are
// distinct source addresses (client_ip(0) = 127.0.0.2, client_ip(1) = 127.0.0.3).
#include <gtest/gtest.h>

#include <map>

#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/table_country_lookup.h"

namespace nib {
namespace {

using test::client_ip;

AccessList acl(std::initializer_list<const char*> entries) {
  AccessList out;
  for (const char* e : entries) out.add(*parse_access_entry(e));
  return out;
}

class ClientAclTest : public test::DataplaneFixture<> {
 protected:
  ServiceCounters counters() { return dp_->status()[0].counters; }
};

TEST_F(ClientAclTest, ADeniedClientIsClosedAndCountedAndNeverReachesABackend) {
  add_backends(1);
  service_.client_acl = acl({"deny 127.0.0.2", "permit 127.0.0.0/8"});
  start();
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(counters().rejected_acl, 2u);
  EXPECT_EQ(counters().accepted, 3u);
  EXPECT_EQ(backends_[0]->accepted(), 1u);
  EXPECT_TRUE(dp_->clients("test").size() == 1u) << "a denied client is not remembered";
  EXPECT_TRUE(test::wait_until([&] { return dp_->open_connections() == 0; }));
}

// Pen's rule for a client nothing matches: the opposite of the last entry.
TEST_F(ClientAclTest, AListEndingInPermitKeepsTheUnmatchedOut) {
  add_backends(1);
  service_.client_acl = acl({"permit 127.0.0.3"});
  start();
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(who(2), "closed");
  EXPECT_EQ(counters().rejected_acl, 2u);
}

TEST_F(ClientAclTest, AListEndingInDenyLetsTheUnmatchedIn) {
  add_backends(1);
  service_.client_acl = acl({"deny 127.0.0.3"});
  start();
  EXPECT_EQ(who(1), "closed");
  EXPECT_EQ(who(0), "b0");
  EXPECT_EQ(who(2), "b0");
  EXPECT_EQ(counters().rejected_acl, 1u);
}

// Pen's "country CC" entries over real sockets, countries from a table;
// TCP here, the same Service::admits() for UDP sessions.
class CountryAclTest : public ClientAclTest {
 protected:
  DataplaneConfig config() const override {
    DataplaneConfig c = ClientAclTest::config();
    c.countries = countries_;
    return c;
  }
  std::shared_ptr<test::TableCountryLookup> countries_ = std::make_shared<test::TableCountryLookup>(
      std::map<std::string, std::string>{{client_ip(0), "SE"}, {client_ip(1), "NO"}});
};

TEST_F(CountryAclTest, ACountrysClientsAreKeptOut) {
  add_backends(1);
  service_.client_acl = acl({"deny country SE"});
  start();
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(2), "b0") << "in no country: the opposite of the last entry";
  EXPECT_EQ(counters().rejected_acl, 1u);
  ASSERT_TRUE(dp_->set_client_acl("test", acl({"permit country NO"})).ok());
  EXPECT_EQ(who(1), "b0");
  EXPECT_EQ(who(0), "closed");
}

TEST(CountryAclStartTest, CountryEntriesWithoutALookupAreRefused) {
  DataplaneConfig c = test::one_backend_config(*SocketAddress::parse("127.0.0.1:9"));
  c.services[0].client_acl = acl({"deny country SE"});
  Dataplane dp(c);
  Status st = dp.start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no country database"), std::string::npos) << st.message();
}

TEST_F(ClientAclTest, ReloadAndSetClientAclApplyToNewConnections) {
  add_backends(1);
  start();
  auto [open, name] = hold(0);
  ASSERT_EQ(name, "b0");
  service_.client_acl = acl({"deny 127.0.0.2", "permit 0.0.0.0/0"});
  ASSERT_TRUE(dp_->reload(config()).ok());
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(who(1), "b0");
  // The open connection is left alone.
  ASSERT_TRUE(open.write_all("ping\n").ok());
  EXPECT_TRUE(test::wait_until([&] { return backends_[0]->active() == 1u; }));
  // The runtime change, then a reload back to the file's list.
  ASSERT_TRUE(dp_->set_client_acl("test", acl({"deny 127.0.0.3", "permit 0.0.0.0/0"})).ok());
  EXPECT_EQ(who(0), "b0");
  EXPECT_EQ(who(1), "closed");
  ASSERT_TRUE(dp_->set_client_acl("test", AccessList{}).ok());
  EXPECT_EQ(who(1), "b0");
  service_.client_acl = AccessList{};
  ASSERT_TRUE(dp_->reload(config()).ok());
  EXPECT_EQ(who(0), "b0");
  EXPECT_EQ(counters().rejected_acl, 2u);
  EXPECT_FALSE(dp_->set_client_acl("nope", AccessList{}).ok());
}

// A list set at runtime stays across a reload whose file says what it said
// before; a file that changed its list wins.
TEST_F(ClientAclTest, ARuntimeListSurvivesAReloadUntilTheFileChangesItsOwn) {
  add_backends(1);
  service_.client_acl = acl({"deny 127.0.0.4"});
  start();
  const AccessList runtime = acl({"deny 127.0.0.2"});
  ASSERT_TRUE(dp_->set_client_acl("test", runtime).ok());
  ASSERT_TRUE(dp_->reload(config()).ok());
  EXPECT_EQ(dp_->client_acl("test").value(), runtime);
  EXPECT_EQ(who(0), "closed");
  EXPECT_EQ(who(1), "b0");
  service_.client_acl = acl({"deny 127.0.0.3"});
  ASSERT_TRUE(dp_->reload(config()).ok());
  EXPECT_EQ(dp_->client_acl("test").value(), service_.client_acl);
  EXPECT_EQ(who(0), "b0");
  EXPECT_EQ(who(1), "closed");
  EXPECT_FALSE(dp_->client_acl("nope").ok());
}

}  // namespace
}  // namespace nib
