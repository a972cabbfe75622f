// The Maglev table alone: determinism, weights, and the disruption bounds of
// the paper (a backend leaving moves its own clients only; one joining takes
// about 1/(N+1)). Counts over a fixed sample of client IPs, no timing.
#include "dataplane/balancer/maglev.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <string>

namespace nib {
namespace {

constexpr int kClients = 100'000;

SocketAddress backend(int i) {
  return *SocketAddress::parse("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":8080");
}

std::vector<MaglevMember> members(int n, uint32_t weight = 1) {
  std::vector<MaglevMember> out;
  for (int i = 0; i < n; ++i) out.push_back({backend(i), weight, i});
  return out;
}

std::shared_ptr<const MaglevTable> build(const std::vector<MaglevMember>& m) {
  auto t = MaglevTable::build(m);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? *t : nullptr;
}

// 100,000 distinct client IPs: 10.x.y.z.
uint64_t client_hash(int c) {
  IpKey k = *IpKey::parse("10." + std::to_string((c >> 16) & 255) + "." + std::to_string((c >> 8) & 255) + "." +
                          std::to_string(c & 255));
  return MaglevTable::client_hash(k);
}

// Each client's backend, by address (indexes change when the list does).
std::vector<std::string> assign(const MaglevTable& t, const std::vector<MaglevMember>& m) {
  std::vector<std::string> out;
  out.reserve(kClients);
  for (int c = 0; c < kClients; ++c) {
    int idx = t.lookup(client_hash(c));
    auto it = std::find_if(m.begin(), m.end(), [&](const MaglevMember& x) { return x.index == idx; });
    out.push_back(it == m.end() ? "" : it->address.to_string());
  }
  return out;
}

TEST(MaglevTableTest, SizeIsTheSmallestListedPrimeOfAHundredPerMember) {
  EXPECT_EQ(MaglevTable::size_for(1), 65537u);
  EXPECT_EQ(MaglevTable::size_for(655), 65537u);
  EXPECT_EQ(MaglevTable::size_for(656), 131101u);
  EXPECT_EQ(MaglevTable::size_for(1000), 131101u);
  for (uint64_t m : MaglevTable::kSizes) {
    for (uint64_t d = 2; d * d <= m; ++d) ASSERT_NE(m % d, 0u) << m << " is not prime";
  }
  EXPECT_EQ(build(members(10))->size(), 65537u);
  EXPECT_EQ(build(members(1000))->size(), 131101u);
}

TEST(MaglevTableTest, SameMembersInAnyOrderGiveTheSameTable) {
  auto in_order = members(37);
  auto a = build(in_order);
  std::mt19937 rng(7);
  for (int round = 0; round < 3; ++round) {
    auto shuffled = in_order;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    // Indexes follow the caller's list; the table names canonical positions.
    for (size_t i = 0; i < shuffled.size(); ++i) shuffled[i].index = static_cast<int>(i);
    auto b = build(shuffled);
    ASSERT_EQ(a->slots(), b->slots());
    ASSERT_EQ(a->members().size(), b->members().size());
    for (size_t i = 0; i < a->members().size(); ++i) EXPECT_EQ(a->members()[i].address, b->members()[i].address);
    EXPECT_EQ(assign(*a, in_order), assign(*b, shuffled));
  }
}

TEST(MaglevTableTest, ClientHashIsFixed) {
  // The same on every platform and build: written out, not host-order memcpy.
  EXPECT_EQ(MaglevTable::client_hash(*IpKey::parse("127.0.0.1")), MaglevTable::client_hash(*IpKey::parse("127.0.0.1")));
  EXPECT_NE(MaglevTable::client_hash(*IpKey::parse("127.0.0.1")), MaglevTable::client_hash(*IpKey::parse("127.0.0.2")));
  // A pinned value (worked out by hand from the bytes): a change here breaks
  // agreement between replicas running different nib versions.
  EXPECT_EQ(MaglevTable::client_hash(*IpKey::parse("127.0.0.1")), 0x8db403882c81fc18ULL);
}

TEST(MaglevTableTest, SharesFollowWeights) {
  std::vector<MaglevMember> m = members(4);
  m[0].weight = 1;
  m[1].weight = 2;
  m[2].weight = 1;
  m[3].weight = 0;  // none
  auto t = build(m);
  std::map<uint32_t, int> slots;
  for (uint32_t pos : t->slots()) ++slots[pos];
  ASSERT_EQ(t->members().size(), 3u);
  std::map<int, double> share;  // by caller index
  for (auto [pos, count] : slots) share[t->members()[pos].index] = static_cast<double>(count) / t->size();
  EXPECT_NEAR(share[0], 0.25, 0.01);
  EXPECT_NEAR(share[1], 0.50, 0.01);
  EXPECT_NEAR(share[2], 0.25, 0.01);
  EXPECT_EQ(share.count(3), 0u);
}

TEST(MaglevTableTest, EqualWeightsSpreadEvenly) {
  auto t = build(members(10));
  std::map<int, int> clients;
  for (int c = 0; c < kClients; ++c) ++clients[t->lookup(client_hash(c))];
  ASSERT_EQ(clients.size(), 10u);
  for (auto [idx, count] : clients) EXPECT_NEAR(count, kClients / 10, kClients / 10 * 0.05) << idx;
}

TEST(MaglevTableTest, ABackendLeavingMovesOnlyItsOwnClients) {
  const int n = 10;
  auto all = members(n);
  auto before = assign(*build(all), all);
  auto fewer = all;
  const std::string gone = fewer[3].address.to_string();
  fewer.erase(fewer.begin() + 3);
  for (size_t i = 0; i < fewer.size(); ++i) fewer[i].index = static_cast<int>(i);
  auto after = assign(*build(fewer), fewer);
  int moved = 0, moved_from_others = 0;
  for (int c = 0; c < kClients; ++c) {
    if (before[c] == after[c]) continue;
    ++moved;
    if (before[c] != gone) ++moved_from_others;
  }
  // Maglev is not perfectly minimal: the paper measures a small extra
  // churn; at 100 x N slots it stays well under 1% of the others' clients.
  // The measured churn, for bench/README.md's Maglev section.
  std::cout << "[ measured ] 1 of " << n << " left: moved " << moved << " of " << kClients << " clients, "
            << moved_from_others << " of them not the leaver's\n";
  EXPECT_LT(moved_from_others, kClients / 100);
  EXPECT_NEAR(static_cast<double>(moved) / kClients, 1.0 / n, 0.02);
}

TEST(MaglevTableTest, ABackendJoiningTakesAboutItsShare) {
  const int n = 10;
  auto all = members(n);
  auto before = assign(*build(all), all);
  auto more = members(n + 1);
  const std::string added = more[n].address.to_string();
  auto after = assign(*build(more), more);
  int moved = 0, moved_elsewhere = 0;
  for (int c = 0; c < kClients; ++c) {
    if (before[c] == after[c]) continue;
    ++moved;
    if (after[c] != added) ++moved_elsewhere;
  }
  std::cout << "[ measured ] 1 joined " << n << ": moved " << moved << " of " << kClients << " clients, "
            << moved_elsewhere << " of them not to the new one\n";
  EXPECT_LT(moved_elsewhere, kClients / 100);
  EXPECT_NEAR(static_cast<double>(moved) / kClients, 1.0 / (n + 1), 0.02);
}

TEST(MaglevTableTest, PickStepsOverUnusableMembersDeterministically) {
  auto m = members(5);
  auto t = build(m);
  for (int c = 0; c < 1000; ++c) {
    const uint64_t h = client_hash(c);
    const int home = t->lookup(h);
    EXPECT_EQ(t->pick(h, [](int) { return true; }), home);
    const int other = t->pick(h, [&](int i) { return i != home; });
    EXPECT_NE(other, home);
    EXPECT_GE(other, 0);
    EXPECT_EQ(t->pick(h, [&](int i) { return i != home; }), other);  // the same every time
  }
  // Only one usable: found (by the canonical scan when the probes miss it).
  for (int only = 0; only < 5; ++only) {
    for (int c = 0; c < 100; ++c) EXPECT_EQ(t->pick(client_hash(c), [&](int i) { return i == only; }), only);
  }
  EXPECT_EQ(t->pick(client_hash(1), [](int) { return false; }), -1);
}

TEST(MaglevTableTest, ClientsOfADownBackendSpreadOverTheOthers) {
  auto m = members(10);
  auto t = build(m);
  std::map<int, int> took;
  for (int c = 0; c < kClients; ++c) {
    const uint64_t h = client_hash(c);
    if (t->lookup(h) != 0) continue;
    ++took[t->pick(h, [](int i) { return i != 0; })];
  }
  EXPECT_EQ(took.count(0), 0u);
  EXPECT_EQ(took.size(), 9u);  // not all onto one neighbour
}

TEST(MaglevTableTest, EmptyAndInvalid) {
  auto empty = build({});
  EXPECT_EQ(empty->size(), 0u);
  EXPECT_EQ(empty->lookup(42), -1);
  EXPECT_EQ(empty->pick(42, [](int) { return true; }), -1);
  auto zero = build(members(3, 0));
  EXPECT_EQ(zero->lookup(42), -1);
  std::vector<MaglevMember> bad{{SocketAddress(), 1, 0}};
  EXPECT_FALSE(MaglevTable::build(bad).ok());
}

TEST(MaglevTableTest, AServerListedTwiceIsTwoMembers) {
  std::vector<MaglevMember> m{{backend(0), 1, 0}, {backend(0), 1, 1}, {backend(1), 1, 2}};
  auto t = build(m);
  std::map<int, int> slots;
  for (uint32_t pos : t->slots()) ++slots[t->members()[pos].index];
  EXPECT_EQ(slots.size(), 3u);
  for (auto [idx, count] : slots) EXPECT_NEAR(count, t->size() / 3.0, t->size() * 0.01);
}

TEST(MaglevTableTest, BuiltFromComparesTheInput) {
  auto m = members(4);
  auto t = build(m);
  EXPECT_TRUE(t->built_from(m));
  m[1].weight = 3;
  EXPECT_FALSE(t->built_from(m));
}

}  // namespace
}  // namespace nib
