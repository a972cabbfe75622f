#include "dataplane/udp/udp_session_table.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "dataplane/net/socket_address.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using Entry = UdpSessionTable::Entry;

UdpClientKey key_of(const std::string& host_port) {
  auto a = SocketAddress::parse(host_port);
  EXPECT_TRUE(a.ok()) << host_port;
  UdpClientKey k;
  EXPECT_TRUE(UdpClientKey::from_sockaddr(a->sockaddr_ptr(), a->length(), &k));
  return k;
}

std::unique_ptr<Entry> entry(const std::string& host_port) {
  auto e = std::make_unique<Entry>();
  e->key = key_of(host_port);
  return e;
}

// Newest to oldest, as the LRU list holds them.
std::vector<Entry*> lru_order(const UdpSessionTable& t) {
  std::vector<Entry*> out;
  for (Entry* e = t.newest(); e != nullptr; e = UdpSessionTable::older(e)) out.push_back(e);
  return out;
}

const MonoTime t0 = MonoTime() + 1h;

TEST(UdpClientKeyTest, AddressAndPortBothCount) {
  EXPECT_EQ(key_of("127.0.0.1:5000"), key_of("127.0.0.1:5000"));
  EXPECT_NE(key_of("127.0.0.1:5000"), key_of("127.0.0.1:5001"));
  EXPECT_NE(key_of("127.0.0.1:5000"), key_of("127.0.0.2:5000"));
  // The v4-mapped form of an IPv4 address is a different client: its family differs.
  EXPECT_NE(key_of("127.0.0.1:5000"), key_of("[::ffff:127.0.0.1]:5000"));
  EXPECT_EQ(key_of("[::1]:53"), key_of("[::1]:53"));
}

TEST(UdpClientKeyTest, OtherFamiliesAreRefused) {
  sockaddr_storage ss{};
  ss.ss_family = AF_UNIX;
  UdpClientKey k;
  EXPECT_FALSE(UdpClientKey::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof ss, &k));
  sockaddr_in short_v4{};
  short_v4.sin_family = AF_INET;
  EXPECT_FALSE(UdpClientKey::from_sockaddr(reinterpret_cast<sockaddr*>(&short_v4), 4, &k));
}

TEST(UdpSessionTableTest, FindInsertErase) {
  UdpSessionTable t(42);
  auto a = entry("127.0.0.1:1000"), b = entry("127.0.0.1:1001");
  EXPECT_EQ(t.find(a->key), nullptr);
  t.insert(a.get(), t0);
  t.insert(b.get(), t0 + 1s);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find(a->key), a.get());
  EXPECT_EQ(t.find(b->key), b.get());
  EXPECT_TRUE(UdpSessionTable::contains(a.get()));
  t.erase(a.get());
  EXPECT_FALSE(UdpSessionTable::contains(a.get()));
  EXPECT_EQ(t.find(a->key), nullptr);
  EXPECT_EQ(t.find(b->key), b.get());
  t.erase(a.get());  // not there: nothing happens
  EXPECT_EQ(t.size(), 1u);
  t.erase(b.get());
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.oldest(), nullptr);
  EXPECT_EQ(t.newest(), nullptr);
}

TEST(UdpSessionTableTest, TouchMakesMostRecentlyUsed) {
  UdpSessionTable t(7);
  auto a = entry("127.0.0.2:1"), b = entry("127.0.0.3:1"), c = entry("127.0.0.4:1");
  t.insert(a.get(), t0);
  t.insert(b.get(), t0 + 1s);
  t.insert(c.get(), t0 + 2s);
  EXPECT_EQ(lru_order(t), (std::vector<Entry*>{c.get(), b.get(), a.get()}));
  t.touch(a.get(), t0 + 3s);
  EXPECT_EQ(lru_order(t), (std::vector<Entry*>{a.get(), c.get(), b.get()}));
  EXPECT_EQ(t.oldest(), b.get());  // the next to evict, and the next to expire
  EXPECT_EQ(a->last_active, t0 + 3s);
  t.touch(a.get(), t0 + 4s);  // already the newest
  EXPECT_EQ(t.newest(), a.get());
  EXPECT_EQ(a->last_active, t0 + 4s);
  t.erase(c.get());  // from the middle
  EXPECT_EQ(lru_order(t), (std::vector<Entry*>{a.get(), b.get()}));
  t.erase(b.get());  // the oldest
  EXPECT_EQ(lru_order(t), (std::vector<Entry*>{a.get()}));
  EXPECT_EQ(t.oldest(), a.get());
}

TEST(UdpSessionTableTest, GrowsAndKeepsEveryEntryFindable) {
  UdpSessionTable t(1234);
  const size_t initial = t.buckets();
  std::vector<std::unique_ptr<Entry>> entries;
  for (int i = 0; i < 5000; ++i) {
    entries.push_back(entry("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":" +
                            std::to_string(1000 + i % 7)));
    t.insert(entries.back().get(), t0 + std::chrono::milliseconds(i));
  }
  EXPECT_EQ(t.size(), 5000u);
  EXPECT_GT(t.buckets(), initial);
  EXPECT_GE(t.buckets(), t.size());  // load factor <= 1
  for (auto& e : entries) ASSERT_EQ(t.find(e->key), e.get());
  EXPECT_EQ(t.oldest(), entries.front().get());
  EXPECT_EQ(t.newest(), entries.back().get());
  // Erase every other one (random order), the rest stay findable.
  std::vector<Entry*> order;
  for (size_t i = 0; i < entries.size(); i += 2) order.push_back(entries[i].get());
  std::shuffle(order.begin(), order.end(), std::mt19937(5));
  for (Entry* e : order) t.erase(e);
  EXPECT_EQ(t.size(), 2500u);
  for (size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(t.find(entries[i]->key), i % 2 ? entries[i].get() : nullptr);
  }
  EXPECT_EQ(lru_order(t).size(), 2500u);
}

TEST(UdpSessionTableTest, ReinsertAfterErase) {
  UdpSessionTable t(9);
  auto a = entry("[::1]:53");
  t.insert(a.get(), t0);
  t.erase(a.get());
  t.insert(a.get(), t0 + 1s);
  EXPECT_EQ(t.find(a->key), a.get());
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.oldest(), a.get());
}

TEST(UdpSessionTableTest, SeedChangesBucketsNotResults) {
  std::vector<std::unique_ptr<Entry>> e1, e2;
  UdpSessionTable t1(1), t2(2);
  for (int i = 0; i < 100; ++i) {
    std::string hp = "192.168.1." + std::to_string(i) + ":" + std::to_string(4000 + i);
    e1.push_back(entry(hp));
    e2.push_back(entry(hp));
    t1.insert(e1.back().get(), t0);
    t2.insert(e2.back().get(), t0);
  }
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(t1.find(e1[i]->key), e1[i].get());
    EXPECT_EQ(t2.find(e2[i]->key), e2[i].get());
  }
}

}  // namespace
}  // namespace nib
