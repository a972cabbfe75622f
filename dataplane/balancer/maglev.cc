#include "dataplane/balancer/maglev.h"

#include <algorithm>
#include <array>
#include <string>

#include "dataplane/base/hash.h"

namespace nib {
namespace {

// A member's identity as bytes: its IP as 16 bytes (IPv4 v4-mapped), its port
// big-endian, and which listing of that address it is (Pen's command line
// may list a server twice: two members that must not share a permutation).
using IdentityBytes = std::array<uint8_t, 22>;

IdentityBytes identity(const SocketAddress& a, uint32_t ordinal) {
  IdentityBytes out{};
  const IpKey ip = a.ip_key();
  std::copy(ip.bytes.begin(), ip.bytes.end(), out.begin());
  const uint16_t port = a.port();
  out[16] = static_cast<uint8_t>(port >> 8);
  out[17] = static_cast<uint8_t>(port);
  for (int i = 0; i < 4; ++i) out[18 + i] = static_cast<uint8_t>(ordinal >> (24 - 8 * i));
  return out;
}

// FNV-1a, 64-bit: byte by byte, so it does not depend on endianness.
uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

uint64_t MaglevTable::size_for(size_t members) {
  const uint64_t want = static_cast<uint64_t>(members) * 100;
  for (uint64_t m : kSizes) {
    if (m >= want) return m;
  }
  return kSizes[std::size(kSizes) - 1];
}

uint64_t MaglevTable::client_hash(const IpKey& client) {
  const uint64_t hi = load_be64(client.bytes.data());
  const uint64_t lo = load_be64(client.bytes.data() + 8);
  return mix64(hi ^ mix64(lo ^ 0x9e3779b97f4a7c15ULL));
}

Result<std::shared_ptr<const MaglevTable>> MaglevTable::build(const std::vector<MaglevMember>& input) {
  auto table = std::make_shared<MaglevTable>();
  table->input_ = input;
  struct Keyed {
    IdentityBytes key;  // ordinal still 0: the sort key is the address
    size_t at;          // position in `input`, the tie-break between listings of one address
  };
  std::vector<Keyed> keyed;
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i].weight == 0) continue;
    if (!input[i].address.valid()) return Status::invalid("maglev: a member's address is not IPv4 or IPv6");
    keyed.push_back({identity(input[i].address, 0), i});
  }
  if (keyed.size() > kMaxMembers) {
    return Status::invalid("maglev: " + std::to_string(keyed.size()) + " backends, at most " +
                           std::to_string(kMaxMembers));
  }
  std::sort(keyed.begin(), keyed.end(),
            [](const Keyed& a, const Keyed& b) { return a.key != b.key ? a.key < b.key : a.at < b.at; });
  const size_t n = keyed.size();
  if (n == 0) return std::shared_ptr<const MaglevTable>(std::move(table));

  const uint64_t m = size_for(n);
  std::vector<uint64_t> offset(n), skip(n), next(n, 0), credit(n, 0);
  uint32_t max_weight = 0;
  uint32_t ordinal = 0;
  table->members_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const MaglevMember& member = input[keyed[i].at];
    ordinal = i > 0 && keyed[i - 1].key == keyed[i].key ? ordinal + 1 : 0;
    const IdentityBytes id = identity(member.address, ordinal);
    const uint64_t h = fnv1a(id.data(), id.size());
    // Two independent hashes of the identity, as the paper's h1 and h2.
    offset[i] = mix64(h) % m;
    skip[i] = mix64(h ^ 0x9e3779b97f4a7c15ULL) % (m - 1) + 1;  // 1..m-1: with m prime, a full cycle
    max_weight = std::max(max_weight, member.weight);
    table->members_.push_back(member);
  }

  // The paper's population loop, weighted: each pass, every member earns its
  // weight in credit and takes its next preferred free slot per max_weight
  // of credit (at most one per pass). The heaviest member takes one slot
  // every pass, so the loop ends within m passes, and every member's share
  // is its weight's to within one slot per pass boundary.
  std::vector<uint32_t> slots(m, kNone);
  uint64_t filled = 0;
  for (uint64_t pass = 0; pass < m && filled < m; ++pass) {
    for (size_t i = 0; i < n && filled < m; ++i) {
      credit[i] += table->members_[i].weight;
      if (credit[i] < max_weight) continue;
      credit[i] -= max_weight;
      // A permutation of all m slots (skip and m coprime), and a free slot
      // remains while filled < m: found within m steps.
      for (; next[i] < m; ++next[i]) {
        const uint64_t c = (offset[i] + next[i] * skip[i]) % m;
        if (slots[c] == kNone) {
          slots[c] = static_cast<uint32_t>(i);
          ++filled;
          ++next[i];
          break;
        }
      }
    }
  }
  if (filled != m) return Status::internal("maglev: table not filled");  // unreachable by the argument above
  table->slots_ = std::move(slots);
  return std::shared_ptr<const MaglevTable>(std::move(table));
}

}  // namespace nib
