// Pen's access lists with Pen's rule: the first match decides; when nothing
// matches, the opposite of the last entry's action; an empty list permits.
#include "dataplane/net/access_list.h"

#include <gtest/gtest.h>

#include "tests/support/table_country_lookup.h"

namespace nib {
namespace {

SocketAddress client(const char* ip) { return *SocketAddress::from_ip(ip, 40000); }

AccessEntry entry(const char* text) {
  auto e = parse_access_entry(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status().message();
  return e.ok() ? *e : AccessEntry{};
}

AccessEntry pen(bool permit, const char* ip, const char* mask = "") {
  auto e = AccessEntry::parse_pen(permit, ip, mask);
  EXPECT_TRUE(e.ok()) << ip << " " << mask << ": " << e.status().message();
  return e.ok() ? *e : AccessEntry{};
}

TEST(AccessListTest, AnEmptyListPermitsEveryone) {
  AccessList acl;
  EXPECT_TRUE(acl.permits(client("10.0.0.1")));
  EXPECT_TRUE(acl.permits(client("::1")));
}

TEST(AccessListTest, TheFirstMatchDecides) {
  AccessList acl({entry("deny 10.0.0.7"), entry("permit 10.0.0.0/8"), entry("deny 10.0.0.0/8")});
  EXPECT_FALSE(acl.permits(client("10.0.0.7")));
  EXPECT_TRUE(acl.permits(client("10.0.0.8")));
  EXPECT_TRUE(acl.permits(client("10.200.1.1")));
}

TEST(AccessListTest, AListEndingInPermitKeepsTheUnmatchedOut) {
  AccessList permit_only({entry("permit 127.0.0.3")});
  EXPECT_TRUE(permit_only.permits(client("127.0.0.3")));
  EXPECT_FALSE(permit_only.permits(client("127.0.0.2")));
  AccessList mixed({entry("deny 10.0.0.7"), entry("permit 10.0.0.0/8")});
  EXPECT_FALSE(mixed.permits(client("10.0.0.7")));
  EXPECT_TRUE(mixed.permits(client("10.0.0.8")));
  EXPECT_FALSE(mixed.permits(client("192.168.0.1")));
  EXPECT_FALSE(mixed.permits(client("::1")));
}

TEST(AccessListTest, AListEndingInDenyLetsTheUnmatchedIn) {
  AccessList deny_only({entry("deny 127.0.0.2")});
  EXPECT_FALSE(deny_only.permits(client("127.0.0.2")));
  EXPECT_TRUE(deny_only.permits(client("127.0.0.3")));
  EXPECT_TRUE(deny_only.permits(client("::1")));
  // Only the last entry counts, whatever came before it (Pen's acl.c).
  AccessList mixed({entry("permit 10.0.0.0/8"), entry("deny 10.0.0.0/16")});
  EXPECT_TRUE(mixed.permits(client("10.0.0.1")));  // the first match
  EXPECT_TRUE(mixed.permits(client("192.168.0.1")));
  AccessList v6_last({entry("permit 10.0.0.0/8"), entry("deny 2001:db8::/32")});
  EXPECT_TRUE(v6_last.permits(client("192.168.0.1")));  // the last entry is IPv6, it still decides
}

TEST(AccessListTest, PensDottedMaskDefaultsToOneHostAndMasksHostBits) {
  AccessList host({pen(true, "192.168.1.5")});
  EXPECT_TRUE(host.permits(client("192.168.1.5")));
  EXPECT_FALSE(host.permits(client("192.168.1.6")));
  AccessList net({pen(false, "192.168.1.5", "255.255.255.0"), pen(true, "0.0.0.0", "0.0.0.0")});
  EXPECT_FALSE(net.permits(client("192.168.1.200")));
  EXPECT_TRUE(net.permits(client("192.168.2.1")));
  EXPECT_EQ(net.entries()[0].to_string(), "deny 192.168.1.0/24");
  EXPECT_EQ(net.entries()[1].to_string(), "permit 0.0.0.0/0");
  // A non-contiguous mask, as Pen allows: the third octet is ignored.
  AccessList odd({pen(true, "10.0.0.1", "255.255.0.255")});
  EXPECT_TRUE(odd.permits(client("10.0.77.1")));
  EXPECT_FALSE(odd.permits(client("10.0.77.2")));
  EXPECT_EQ(odd.entries()[0].to_string(), "permit 10.0.0.1 255.255.0.255");
  EXPECT_EQ(pen(true, "10.0.0.0/8").to_string(), "permit 10.0.0.0/8");  // CIDR works too
}

TEST(AccessListTest, Ipv6PrefixesDefaultToOneHost) {
  AccessList acl({pen(false, "::1"), pen(true, "2001:db8::/32")});
  EXPECT_TRUE(acl.permits(client("2001:db8:1::5")));
  EXPECT_FALSE(acl.permits(client("2001:db9::1")));
  EXPECT_FALSE(acl.permits(client("::1")));
  EXPECT_EQ(acl.entries()[0].to_string(), "deny ::1/128");
  EXPECT_EQ(acl.entries()[1].to_string(), "permit 2001:db8::/32");
  // An IPv4 entry never matches a native IPv6 client.
  AccessList v4({entry("permit 0.0.0.0/0")});
  EXPECT_FALSE(v4.permits(client("2001:db8::1")));
}

TEST(AccessListTest, V4MappedClientsMatchIpv4Entries) {
  AccessList acl({entry("deny 127.0.0.2"), entry("permit 127.0.0.0/8")});
  EXPECT_FALSE(acl.permits(client("::ffff:127.0.0.2")));
  EXPECT_TRUE(acl.permits(client("::ffff:127.0.0.3")));
  EXPECT_FALSE(acl.permits(client("::1")));
}

// What to_string() writes, parse_access_entry() reads back as the same entry
// (the state file and the admin APIs rely on it).
TEST(AccessListTest, EntriesRoundTripThroughTheirText) {
  for (const AccessEntry& e : {pen(true, "10.0.0.1", "255.255.0.255"), pen(false, "192.168.1.5", "255.255.255.0"),
                               pen(true, "::1"), pen(false, "2001:db8::/32"), pen(true, "0.0.0.0", "0.0.0.0"),
                               *AccessEntry::from_country(false, "se")}) {
    auto back = parse_access_entry(e.to_string());
    ASSERT_TRUE(back.ok()) << e.to_string() << ": " << back.status().message();
    EXPECT_EQ(*back, e) << e.to_string();
  }
  EXPECT_TRUE(parse_access_entry("deny 10.0.0.0  255.0.255.0").ok()) << "spaces between the words";
  EXPECT_FALSE(parse_access_entry("deny 10.0.0.0 255.0.255").ok());
  EXPECT_FALSE(parse_access_entry("deny ::1 255.0.0.0").ok());
}

TEST(AccessListTest, BadEntriesSayWhatWasExpected) {
  EXPECT_FALSE(parse_access_entry("allow 10.0.0.0/8").ok());
  EXPECT_FALSE(parse_access_entry("permit").ok());
  EXPECT_FALSE(parse_access_entry("permit 10.0.0.1/8").ok());  // host bits
  EXPECT_FALSE(parse_access_entry("deny 10.0.0.0/33").ok());
  EXPECT_FALSE(parse_access_entry("deny example.com").ok());
  EXPECT_FALSE(AccessEntry::parse_pen(true, "10.0.0.1", "255.255.0").ok());
  EXPECT_FALSE(AccessEntry::parse_pen(true, "::1", "255.255.255.0").ok());
  EXPECT_FALSE(AccessEntry::parse_pen(true, "nope", "").ok());
  EXPECT_FALSE(AccessEntry::parse_pen(true, "10.0.0.0/8", "255.0.0.0").ok());
  auto bad = parse_access_entry("permit 10.0.0.1/8");
  EXPECT_NE(bad.status().message().find("host bits"), std::string::npos) << bad.status().message();
}

// Pen's "acl N deny country CC": the client's country from a lookup, asked
// once per check and only when a country entry is reached.
TEST(AccessListTest, CountryEntriesAskTheLookupOnce) {
  test::TableCountryLookup countries({{"127.0.0.2", "SE"}, {"127.0.0.3", "NO"}});
  ASSERT_TRUE(countries.prepare().ok());
  AccessList acl({entry("permit 127.0.0.9/32"), entry("deny country se"), entry("deny country DK")});
  EXPECT_TRUE(acl.has_country_entries());
  EXPECT_EQ(acl.entries()[1].to_string(), "deny country SE");
  EXPECT_FALSE(acl.permits(client("127.0.0.2"), &countries));
  EXPECT_EQ(countries.lookups(), 1u);
  EXPECT_TRUE(acl.permits(client("127.0.0.3"), &countries));  // no match: the opposite of the last (deny)
  EXPECT_EQ(countries.lookups(), 2u);
  EXPECT_TRUE(acl.permits(client("127.0.0.9"), &countries));  // decided before any country entry
  EXPECT_EQ(countries.lookups(), 2u);
  // Without a lookup no client is in a country: only the no-match rule applies.
  EXPECT_TRUE(acl.permits(client("127.0.0.2")));
  EXPECT_FALSE(AccessList({entry("permit country SE")}).permits(client("127.0.0.2")));
  EXPECT_FALSE(AccessList({entry("permit 10.0.0.0/8")}).has_country_entries());
}

TEST(AccessListTest, BadCountryCodesSayWhatWasExpected) {
  for (const char* code : {"S", "SWE", "S3", "", "-- "}) {
    auto e = AccessEntry::from_country(false, code);
    ASSERT_FALSE(e.ok()) << code;
    EXPECT_NE(e.status().message().find("two-letter country code"), std::string::npos) << e.status().message();
  }
  EXPECT_FALSE(parse_access_entry("deny country").ok());
  EXPECT_FALSE(parse_access_entry("deny country XYZ").ok());
}

}  // namespace
}  // namespace nib
