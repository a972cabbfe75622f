// Operator pins: longest prefix wins, copies change one thing, lookups never scan.
#include "dataplane/affinity/client_pins.h"

#include <gtest/gtest.h>

namespace nib {
namespace {

IpKey ip(const std::string& text) { return *IpKey::parse(text); }
IpPrefix prefix(const std::string& text) { return *IpPrefix::parse(text); }

TEST(ClientPinsTest, EmptyFindsNothing) {
  ClientPins pins;
  EXPECT_TRUE(pins.empty());
  EXPECT_FALSE(pins.find(ip("10.0.0.1")));
  EXPECT_TRUE(pins.list().empty());
}

TEST(ClientPinsTest, LongestPrefixWins) {
  ClientPins pins = ClientPins{}
                        .with(prefix("10.0.0.0/8"), 1)
                        .with(prefix("10.1.0.0/16"), 2)
                        .with(prefix("10.1.2.3"), 3)
                        .with(prefix("::/0"), 4);
  EXPECT_EQ(pins.size(), 4u);
  EXPECT_EQ(pins.find(ip("10.1.2.3")), 3u);
  EXPECT_EQ(pins.find(ip("10.1.2.4")), 2u);
  EXPECT_EQ(pins.find(ip("10.2.0.1")), 1u);
  EXPECT_EQ(pins.find(ip("11.0.0.1")), 4u);  // ::/0 holds every key
  EXPECT_EQ(pins.find(ip("2001:db8::1")), 4u);
}

TEST(ClientPinsTest, Ipv6AndIpv4DoNotMix) {
  ClientPins pins = ClientPins{}.with(prefix("0.0.0.0/0"), 1).with(prefix("2001:db8::/32"), 2);
  EXPECT_EQ(pins.find(ip("192.0.2.1")), 1u);
  EXPECT_EQ(pins.find(ip("2001:db8::5")), 2u);
  EXPECT_FALSE(pins.find(ip("2001:db9::5")));
}

TEST(ClientPinsTest, WithReplacesAndLeavesTheOriginalAlone) {
  ClientPins a = ClientPins{}.with(prefix("10.0.0.0/8"), 1);
  ClientPins b = a.with(prefix("10.0.0.0/8"), 2);
  EXPECT_EQ(a.find(ip("10.9.9.9")), 1u);
  EXPECT_EQ(b.find(ip("10.9.9.9")), 2u);
  EXPECT_EQ(b.size(), 1u);
  EXPECT_EQ(b.exact(prefix("10.0.0.0/8")), 2u);
  EXPECT_FALSE(b.exact(prefix("10.0.0.0/9")));
}

TEST(ClientPinsTest, WithoutRemovesOnePrefix) {
  ClientPins pins = ClientPins{}.with(prefix("10.0.0.0/8"), 1).with(prefix("10.1.0.0/16"), 2);
  ClientPins fewer = pins.without(prefix("10.1.0.0/16"));
  EXPECT_EQ(fewer.size(), 1u);
  EXPECT_EQ(fewer.find(ip("10.1.0.1")), 1u);
  EXPECT_EQ(pins.without(prefix("192.168.0.0/16")).size(), 2u);  // absent: unchanged
  EXPECT_TRUE(fewer.without(prefix("10.0.0.0/8")).empty());
}

TEST(ClientPinsTest, WithoutBackendDropsAllItsPins) {
  ClientPins pins = ClientPins{}
                        .with(prefix("10.0.0.0/8"), 1)
                        .with(prefix("10.1.0.0/16"), 2)
                        .with(prefix("192.168.1.1"), 2)
                        .with(prefix("::1"), 3);
  ClientPins left = pins.without_backend(2);
  EXPECT_EQ(left.size(), 2u);
  EXPECT_EQ(left.find(ip("10.1.0.1")), 1u);
  EXPECT_FALSE(left.find(ip("192.168.1.1")));
  EXPECT_EQ(left.find(ip("::1")), 3u);
}

TEST(ClientPinsTest, ListIsLongestFirstThenByAddress) {
  ClientPins pins = ClientPins{}
                        .with(prefix("10.0.0.0/8"), 1)
                        .with(prefix("10.2.0.0/16"), 2)
                        .with(prefix("10.1.0.0/16"), 3)
                        .with(prefix("::1"), 4);
  auto list = pins.list();
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list[0].prefix.to_string(), "::1/128");
  EXPECT_EQ(list[1].prefix.to_string(), "10.1.0.0/16");
  EXPECT_EQ(list[1].backend_id, 3u);
  EXPECT_EQ(list[2].prefix.to_string(), "10.2.0.0/16");
  EXPECT_EQ(list[3].prefix.to_string(), "10.0.0.0/8");
}

TEST(ClientPinsTest, ThousandsOfPinsOfOneLength) {
  ClientPins pins;
  for (int i = 0; i < 5000; ++i) {
    pins = pins.with(prefix("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24"),
                     static_cast<uint32_t>(i + 1));
  }
  EXPECT_EQ(pins.size(), 5000u);
  EXPECT_EQ(pins.find(ip("10.3.7.99")), static_cast<uint32_t>(3 * 256 + 7 + 1));
  EXPECT_FALSE(pins.find(ip("10.200.0.1")));
}

}  // namespace
}  // namespace nib
