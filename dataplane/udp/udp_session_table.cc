#include "dataplane/udp/udp_session_table.h"

#include <netinet/in.h>

#include <cstring>
#include <random>

#include "dataplane/base/hash.h"

namespace nib {
namespace {

constexpr size_t kInitialBuckets = 64;

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

bool UdpClientKey::from_sockaddr(const sockaddr* sa, socklen_t len, UdpClientKey* out) {
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    out->ip = {};
    out->ip[10] = out->ip[11] = 0xff;
    std::memcpy(&out->ip[12], &in->sin_addr, 4);
    out->port = in->sin_port;
    out->family = AF_INET;
    return true;
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(out->ip.data(), &in6->sin6_addr, 16);
    out->port = in6->sin6_port;
    out->family = AF_INET6;
    return true;
  }
  return false;
}

UdpSessionTable::UdpSessionTable(uint64_t seed) : seed_(seed), buckets_(kInitialBuckets, nullptr) {}
UdpSessionTable::UdpSessionTable() : UdpSessionTable(random_seed()) {}

uint64_t UdpSessionTable::hash(const UdpClientKey& key) const {
  uint64_t lo, hi;
  std::memcpy(&lo, key.ip.data(), 8);
  std::memcpy(&hi, key.ip.data() + 8, 8);
  uint64_t h = mix64(seed_ ^ (static_cast<uint64_t>(key.family) << 16 | key.port));
  h = mix64(h ^ lo);
  return mix64(h ^ hi);
}

UdpSessionTable::Entry* UdpSessionTable::find(const UdpClientKey& key) const {
  uint64_t h = hash(key);
  for (Entry* e = buckets_[h & (buckets_.size() - 1)]; e != nullptr; e = e->bucket_next_) {
    if (e->hash_ == h && e->key == key) return e;
  }
  return nullptr;
}

void UdpSessionTable::insert(Entry* e, MonoTime now) {
  if (size_ >= buckets_.size()) grow();  // load factor <= 1
  e->hash_ = hash(e->key);
  Entry*& head = buckets_[e->hash_ & (buckets_.size() - 1)];
  e->bucket_next_ = head;
  head = e;
  e->linked_ = true;
  e->last_active = now;
  push_newest(e);
  ++size_;
}

void UdpSessionTable::erase(Entry* e) {
  if (!e->linked_) return;
  Entry** link = &buckets_[e->hash_ & (buckets_.size() - 1)];
  while (*link != e) link = &(*link)->bucket_next_;
  *link = e->bucket_next_;
  e->bucket_next_ = nullptr;
  unlink_lru(e);
  e->linked_ = false;
  --size_;
}

void UdpSessionTable::touch(Entry* e, MonoTime now) {
  e->last_active = now;
  if (newest_ == e) return;
  unlink_lru(e);
  push_newest(e);
}

void UdpSessionTable::grow() {
  std::vector<Entry*> bigger(buckets_.size() * 2, nullptr);
  const size_t mask = bigger.size() - 1;
  for (Entry* head : buckets_) {
    while (head != nullptr) {
      Entry* next = head->bucket_next_;
      Entry*& slot = bigger[head->hash_ & mask];
      head->bucket_next_ = slot;
      slot = head;
      head = next;
    }
  }
  buckets_.swap(bigger);
}

void UdpSessionTable::unlink_lru(Entry* e) {
  (e->newer_ ? e->newer_->older_ : newest_) = e->older_;
  (e->older_ ? e->older_->newer_ : oldest_) = e->newer_;
  e->newer_ = e->older_ = nullptr;
}

void UdpSessionTable::push_newest(Entry* e) {
  e->older_ = newest_;
  e->newer_ = nullptr;
  if (newest_ != nullptr) newest_->newer_ = e;
  newest_ = e;
  if (oldest_ == nullptr) oldest_ = e;
}

}  // namespace nib
