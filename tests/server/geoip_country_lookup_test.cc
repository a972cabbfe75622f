// The GeoIP-backed country lookup against Debian's packaged databases
// (geoip-database, installed by scripts/install-deps.sh): real lookups of
// addresses whose registry allocation has not moved in decades.
#include "server/geoip_country_lookup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "tests/support/prerequisites.h"

namespace nib {
namespace {

IpKey ip(const char* text) { return *IpKey::parse(text); }

class GeoIpCountryLookupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(::access(GeoIpCountryLookup::kDefaultIpv4Database, R_OK) == 0,
                std::string("no ") + GeoIpCountryLookup::kDefaultIpv4Database + " (geoip-database)");
  }
};

TEST_F(GeoIpCountryLookupTest, PackagedDatabaseAnswersKnownAddresses) {
  GeoIpCountryLookup countries;
  EXPECT_EQ(countries.country(ip("193.0.6.139")), "") << "nothing is answered before prepare()";
  ASSERT_TRUE(countries.prepare().ok());
  EXPECT_EQ(countries.country(ip("193.0.6.139")), "NL");   // RIPE NCC, Amsterdam
  EXPECT_EQ(countries.country(ip("202.12.29.205")), "AU");  // APNIC, Brisbane
  EXPECT_EQ(countries.country(ip("127.0.0.1")), "") << "loopback is in no country";
  EXPECT_EQ(countries.country(ip("10.1.2.3")), "");
  EXPECT_TRUE(countries.prepare().ok()) << "a second prepare() is a no-op";
}

TEST_F(GeoIpCountryLookupTest, Ipv6AddressesUseTheIpv6Database) {
  GeoIpCountryLookup countries;
  ASSERT_TRUE(countries.prepare().ok());
  EXPECT_EQ(countries.country(ip("2001:dc0:2001:11::194")), "AU");  // APNIC
  EXPECT_EQ(countries.country(ip("2001:12ff::1")), "BR");          // NIC.br
  EXPECT_EQ(countries.country(ip("::1")), "");
}

TEST_F(GeoIpCountryLookupTest, LookupsFromManyThreadsAgree) {
  GeoIpCountryLookup countries;
  ASSERT_TRUE(countries.prepare().ok());
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (countries.country(ip(i % 2 ? "193.0.6.139" : "202.12.29.205")) != (i % 2 ? "NL" : "AU")) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(GeoIpCountryLookupErrorTest, AMissingDatabaseNamesTheFileAndThePackage) {
  GeoIpCountryLookup countries("/nonexistent/GeoIP.dat");
  Status st = countries.prepare();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent/GeoIP.dat"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("geoip-database"), std::string::npos) << st.message();
  EXPECT_EQ(countries.country(ip("193.0.6.139")), "");
}

}  // namespace
}  // namespace nib
