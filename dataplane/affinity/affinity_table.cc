#include "dataplane/affinity/affinity_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <thread>
#include <utility>

#include "dataplane/base/hash.h"

// Design
// ------
// Each shard owns:
//  * a slot array of 56-byte entries, addressed by uint32 slot numbers, with an
//    intrusive doubly-linked LRU list (prev/next slot numbers) and a free list
//    (threaded through `next`). Slots are handed out by a bump pointer first, so
//    capacity that was never used is never touched;
//  * an open-addressing index of uint32 words (linear probing, backward-shift
//    deletion, no tombstones). A word packs slot+1 (0 = empty), the probe
//    distance from the home bucket (saturating; on saturation the distance is
//    recomputed from the key) and a few hash tag bits, so probing and deletion
//    rarely touch an entry that is not the one wanted.
// Both arrays come from mmap (lazily committed zero pages): a 10M-capacity
// table holding 2K entries costs a few MB, not hundreds.
//
// Memory at capacity (10M entries, 64 shards): 56 bytes per entry + 4 bytes per
// index bucket at load factor 0.8 (5 bytes per entry) = ~61 bytes per entry.
// Tables up to 64K entries use load factor 0.5 instead: cheaper probes for a
// few hundred KB at most.
// To fit 56 bytes, times are milliseconds since the steady clock's epoch in 40
// bits (35 years of uptime) and byte counters are 56 bits (64 PiB, saturating).
//
// Capacity is global and exact: `size_` counts live entries plus units reserved
// by inserts in flight, and an insert only grows the table after reserving a
// unit below capacity. Each shard has physical room for capacity/shards plus a
// slack of ~8 standard deviations of the binomial spread of keys over shards,
// so while the table is below capacity a shard essentially never runs out of
// room (if one does, it evicts its own LRU rather than fail). When the table is
// full, the inserting shard evicts its own LRU entry: LRU is exact within a
// shard and approximate across shards (one shard, used for tables up to 4096
// entries, is exact global LRU as in Pen). A full table whose inserting shard
// is empty (tiny capacity, many shards) evicts another shard's LRU instead.
//
// Locking: one mutex per shard, never two held at once. Counters are relaxed
// atomics written under the shard lock, so stats() reads them without locking.

namespace nib {
namespace {

constexpr uint32_t kNil = UINT32_MAX;           // end of a list / not found
constexpr uint32_t kFreeMark = UINT32_MAX - 1;  // Slot::prev of a free slot
constexpr uint64_t kMax40 = (uint64_t{1} << 40) - 1;
constexpr uint64_t kMax56 = (uint64_t{1} << 56) - 1;
constexpr uint64_t kSmallTable = 4096;  // up to this, one shard (exact LRU)
constexpr unsigned kAutoShards = 64;
constexpr unsigned kMaxShards = 4096;
// Per-shard nominal capacity limit, so slot numbers (with slack) fit in 28 bits
// and leave index word bits for the distance and the tag.
constexpr uint64_t kMaxShardNominal = uint64_t{1} << 27;
constexpr uint64_t kMaxCapacity = uint64_t{1} << 32;
constexpr uint64_t kSmallIndexCapacity = 65536;  // sparser index up to here

// Milliseconds since the steady clock's epoch, clamped to the 40 bits stored.
uint64_t to_ms(MonoTime t) {
  int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  if (ms <= 0) return 0;
  return std::min<uint64_t>(static_cast<uint64_t>(ms), kMax40);
}

MonoTime from_ms(uint64_t ms) {
  return MonoTime{} + std::chrono::duration_cast<MonoClock::duration>(
                          std::chrono::milliseconds(static_cast<int64_t>(ms)));
}

// Expired when now - last_seen > tracking (ms). Timestamps from other threads
// may be slightly ahead of `now`: that is age zero, not a wrap.
bool is_expired(uint64_t last_ms, uint64_t now_ms, uint64_t tracking_ms) {
  return tracking_ms != 0 && now_ms > last_ms && now_ms - last_ms > tracking_ms;
}

// IpKey's operator== ends up as a memcmp call; two loads and compares do.
bool same_key(const IpKey& a, const IpKey& b) {
  uint64_t a0, a1, b0, b1;
  std::memcpy(&a0, a.bytes.data(), 8);
  std::memcpy(&a1, a.bytes.data() + 8, 8);
  std::memcpy(&b0, b.bytes.data(), 8);
  std::memcpy(&b1, b.bytes.data() + 8, 8);
  return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

uint64_t sat_add56(uint64_t a, uint64_t b) { return b >= kMax56 - a ? kMax56 : a + b; }

// 56 bytes. Field widths are chosen to meet the <= 64 bytes/entry budget
// together with the index (see the design note above).
struct Slot {
  IpKey key;
  uint32_t prev;  // towards MRU; kNil at the head; kFreeMark when free
  uint32_t next;  // towards LRU; kNil at the tail; free-list link when free
  uint32_t backend;
  uint32_t connects;
  // What lookup/record touch comes first (bytes 0-40); the rest is colder.
  uint64_t last_ms : 40;
  uint64_t first_hi : 24;
  uint64_t bytes_in : 56;
  uint64_t first_lo : 8;
  uint64_t bytes_out : 56;
  uint64_t first_mid : 8;

  uint64_t first_ms() const {
    return uint64_t{first_lo} | (uint64_t{first_mid} << 8) | (uint64_t{first_hi} << 16);
  }
  void set_first_ms(uint64_t ms) {
    first_lo = ms & 0xff;
    first_mid = (ms >> 8) & 0xff;
    first_hi = ms >> 16;
  }
};
static_assert(sizeof(Slot) == 56, "entry layout is part of the memory budget");

// A zero-filled array whose pages are committed by the kernel on first touch.
// Under AddressSanitizer it comes from calloc instead, so that ASan checks
// bounds (its allocator also maps large blocks lazily).
template <typename T>
class LazyArray {
 public:
  LazyArray() = default;
  explicit LazyArray(size_t n) : n_(n) {
    if (n == 0) return;
#if defined(__SANITIZE_ADDRESS__)
    p_ = static_cast<T*>(std::calloc(n, sizeof(T)));
    if (p_ == nullptr) throw std::bad_alloc();
#else
    void* m = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    p_ = static_cast<T*>(m);
#endif
  }
  ~LazyArray() { release(); }
  LazyArray(LazyArray&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  LazyArray& operator=(LazyArray&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  LazyArray(const LazyArray&) = delete;
  LazyArray& operator=(const LazyArray&) = delete;

  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }

 private:
  size_t bytes() const { return n_ * sizeof(T); }
  void release() {
    if (p_ == nullptr) return;
#if defined(__SANITIZE_ADDRESS__)
    std::free(p_);
#else
    munmap(p_, bytes());
#endif
    p_ = nullptr;
  }
  T* p_ = nullptr;
  size_t n_ = 0;
};

struct Geometry {
  uint32_t phys = 0;     // slots in the shard
  uint32_t buckets = 0;  // index words; always > phys, so probes terminate
};

Geometry geometry_for(uint64_t capacity, size_t shards) {
  uint64_t n = (capacity + shards - 1) / shards;
  uint64_t phys = capacity;
  if (shards > 1) {
    // Shard sizes are ~binomial around n; 8 sigma + a constant makes running
    // out of room below global capacity practically impossible. Slack that is
    // never used is never touched, so it costs address space only.
    auto slack = static_cast<uint64_t>(std::ceil(8.0 * std::sqrt(static_cast<double>(n)))) + 32;
    phys = std::min(capacity, n + slack);
  }
  // Load factor <= 0.8 at the nominal share, <= 0.9 if a shard fills its slack:
  // the memory budget of big tables. Small ones (Pen's default is 2048) can
  // afford 0.5, which makes probes and deletions ~3x shorter.
  uint64_t buckets = capacity <= kSmallIndexCapacity
                         ? std::max(2 * n, (phys * 8 + 4) / 5) + 1
                         : std::max((n * 5 + 3) / 4, (phys * 10 + 8) / 9) + 1;
  return {static_cast<uint32_t>(phys), static_cast<uint32_t>(buckets)};
}

// The counter is only written under the shard lock; the atomic is for readers
// that do not take it (stats()).
struct Counter {
  std::atomic<uint64_t> v{0};
  void add(uint64_t n = 1) { v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

}  // namespace

struct alignas(64) AffinityTable::Shard {
  explicit Shard(uint64_t seed) : seed(seed) {}

  mutable std::mutex mu;
  const uint64_t seed;

  // Geometry and index word layout: [unused | tag | dist | slot+1].
  uint32_t phys = 0;
  uint32_t buckets = 0;
  unsigned slot_bits = 0;
  unsigned dist_bits = 0;
  uint32_t slot_mask = 0;
  uint32_t dist_max = 0;
  uint32_t tag_mask = 0;

  LazyArray<Slot> slots;
  LazyArray<uint32_t> index;
  uint32_t head = kNil;  // MRU
  uint32_t tail = kNil;  // LRU
  uint32_t free_head = kNil;
  uint32_t high_water = 0;  // slots [0, high_water) have been handed out
  uint32_t count = 0;

  Counter hits, misses, evictions, expirations;

  uint64_t hash_of(const IpKey& key) const { return mix64(key.hash() ^ seed); }
  // Bucket from the low 32 bits (the shard came from the high ones).
  uint32_t home(uint64_t h) const {
    return static_cast<uint32_t>((uint64_t{static_cast<uint32_t>(h)} * buckets) >> 32);
  }
  uint32_t tag_of(uint64_t h) const { return static_cast<uint32_t>(h >> 32) & tag_mask; }
  uint32_t word_slot(uint32_t w) const { return (w & slot_mask) - 1; }
  uint32_t make_word(uint32_t tag, uint32_t dist, uint32_t slot) const {
    return (tag << (slot_bits + dist_bits)) | (std::min(dist, dist_max) << slot_bits) | (slot + 1);
  }
  uint32_t next_bucket(uint32_t b) const { return b + 1 == buckets ? 0 : b + 1; }

  // Takes fresh arrays for geometry g (allocated by the caller first, so a
  // failed allocation leaves the shard as it was) and empties the shard.
  void adopt(Geometry g, LazyArray<Slot>&& new_slots, LazyArray<uint32_t>&& new_index) {
    phys = g.phys;
    buckets = g.buckets;
    slot_bits = static_cast<unsigned>(std::bit_width(phys));  // holds slot+1
    unsigned rest = 32 - slot_bits;  // >= 3: phys < 2^28
    // 5 bits: at load factor 0.8 under 1% of words saturate (their distance
    // is then recomputed from the key); the rest goes to the tag.
    dist_bits = std::min(5u, rest / 2);
    unsigned tag_bits = std::min(16u, rest - dist_bits);
    slot_mask = static_cast<uint32_t>((uint64_t{1} << slot_bits) - 1);
    dist_max = (1u << dist_bits) - 1;
    tag_mask = (1u << tag_bits) - 1;
    slots = std::move(new_slots);
    index = std::move(new_index);
    head = tail = free_head = kNil;
    high_water = 0;
    count = 0;
  }

  uint32_t cyclic_dist(uint32_t from, uint32_t to) const {
    return to >= from ? to - from : to + buckets - from;
  }

  // The bucket holding `key`, or kNil; then *empty (if given) is the empty
  // bucket that ended the probe, where `key` would be inserted.
  uint32_t find(const IpKey& key, uint64_t h, uint32_t* empty = nullptr) const {
    // Locals: the compiler cannot keep members in registers across the loads.
    const uint32_t* idx = &index[0];
    const uint32_t n = buckets;
    const unsigned tag_shift = slot_bits + dist_bits;
    const uint32_t tmask = tag_mask, smask = slot_mask, tag = tag_of(h);
    for (uint32_t b = home(h);;) {
      uint32_t w = idx[b];
      if (w == 0) {
        if (empty != nullptr) *empty = b;
        return kNil;
      }
      if (((w >> tag_shift) & tmask) == tag && same_key(slots[(w & smask) - 1].key, key)) return b;
      if (++b == n) b = 0;
    }
  }

  void index_insert(uint64_t h, uint32_t slot) {
    uint32_t b = home(h);
    while (index[b] != 0) b = next_bucket(b);
    index_put(b, h, slot);
  }
  // `b` must be the first empty bucket from h's home.
  void index_put(uint32_t b, uint64_t h, uint32_t slot) {
    index[b] = make_word(tag_of(h), cyclic_dist(home(h), b), slot);
  }
  // The insertion bucket for h, formerly `empty`, after an erase that left
  // `hole` empty: an erase empties one bucket and fills none, so the first
  // empty bucket from home is now the hole if it lies before `empty`.
  uint32_t insertion_after_erase(uint64_t h, uint32_t empty, uint32_t hole) const {
    uint32_t hb = home(h);
    return cyclic_dist(hb, hole) < cyclic_dist(hb, empty) ? hole : empty;
  }

  // Backward-shift deletion: later members of the cluster that may live closer
  // to their home bucket move into the hole, so no tombstones build up.
  // Returns the bucket left empty.
  uint32_t index_erase(uint32_t hole) {
    uint32_t* idx = &index[0];
    const uint32_t n = buckets;
    const unsigned shift = slot_bits;
    const uint32_t dmax = dist_max;
    for (uint32_t j = hole + 1 == n ? 0 : hole + 1;; j = j + 1 == n ? 0 : j + 1) {
      uint32_t w = idx[j];
      if (w == 0) break;
      uint32_t dist = (w >> shift) & dmax;
      if (dist == dmax) {  // saturated (or exactly the max): recompute
        uint32_t hb = home(hash_of(slots[word_slot(w)].key));
        dist = cyclic_dist(hb, j);
      }
      uint32_t gap = j >= hole ? j - hole : j + n - hole;
      if (dist >= gap) {  // the hole lies between its home and j
        uint32_t nd = std::min(dist - gap, dmax);
        idx[hole] = (w & ~(dmax << shift)) | (nd << shift);
        hole = j;
      }
    }
    idx[hole] = 0;
    return hole;
  }

  void unlink(uint32_t s) {
    Slot& e = slots[s];
    if (e.prev != kNil) slots[e.prev].next = e.next; else head = e.next;
    if (e.next != kNil) slots[e.next].prev = e.prev; else tail = e.prev;
  }
  void push_front(uint32_t s) {
    Slot& e = slots[s];
    e.prev = kNil;
    e.next = head;
    if (head != kNil) slots[head].prev = s; else tail = s;
    head = s;
  }
  void push_back(uint32_t s) {
    Slot& e = slots[s];
    e.next = kNil;
    e.prev = tail;
    if (tail != kNil) slots[tail].next = s; else head = s;
    tail = s;
  }
  void touch(uint32_t s) {
    if (head != s) {
      unlink(s);
      push_front(s);
    }
  }

  uint32_t alloc_slot() {
    if (free_head != kNil) {
      uint32_t s = free_head;
      free_head = slots[s].next;
      return s;
    }
    if (high_water < phys) return high_water++;
    return kNil;
  }
  void free_slot(uint32_t s) {
    slots[s].prev = kFreeMark;
    slots[s].next = free_head;
    free_head = s;
  }

  // Unlinks the entry in slot `s` (found at bucket `b`); the slot is not freed.
  // Returns the index bucket left empty.
  uint32_t detach(uint32_t b, uint32_t s) {
    unlink(s);
    --count;
    return index_erase(b);
  }
  uint32_t detach_slot(uint32_t s) { return detach(find(slots[s].key, hash_of(slots[s].key)), s); }

  // Drops the LRU entry (count > 0), counted as an expiration when it had
  // expired anyway, else as an eviction. Returns its slot, not yet freed; *hole
  // (if given) is the index bucket left empty.
  uint32_t evict_lru(uint64_t now_ms, uint64_t tracking_ms, uint32_t* hole = nullptr) {
    uint32_t s = tail;
    if (is_expired(slots[s].last_ms, now_ms, tracking_ms)) expirations.add(); else evictions.add();
    uint32_t b = detach_slot(s);
    if (hole != nullptr) *hole = b;
    return s;
  }

  // Makes slot s the MRU entry for key, at index bucket `at` (the first empty
  // one from h's home; known from the failed find, so no second probe).
  void fill(uint32_t s, uint32_t at, const IpKey& key, uint64_t h, uint32_t backend,
            uint64_t now_ms) {
    Slot& e = slots[s];
    e.key = key;
    reset(e, backend, now_ms);
    index_put(at, h, s);
    push_front(s);
    ++count;
  }
  static void reset(Slot& e, uint32_t backend, uint64_t now_ms) {
    e.backend = backend;
    e.connects = 1;
    e.bytes_in = 0;
    e.bytes_out = 0;
    e.last_ms = now_ms;
    e.set_first_ms(now_ms);
  }

  // Moves the entries into arrays of a new geometry, keeping the MRU order and
  // at most g.phys entries (the most recent). Returns how many were dropped.
  uint32_t rebuild(Geometry g) {
    LazyArray<Slot> new_slots(g.phys);
    LazyArray<uint32_t> new_index(g.buckets);
    LazyArray<Slot> old_slots = std::move(slots);
    uint32_t old_head = head;
    uint32_t old_count = count;
    adopt(g, std::move(new_slots), std::move(new_index));
    uint32_t kept = 0;
    for (uint32_t s = old_head; s != kNil && kept < phys; s = old_slots[s].next, ++kept) {
      slots[kept] = old_slots[s];
      index_insert(hash_of(slots[kept].key), kept);
      push_back(kept);
    }
    high_water = kept;
    count = kept;
    return old_count - kept;
  }

  AffinityEntry snapshot(const Slot& e) const {
    AffinityEntry a;
    a.client = e.key;
    a.backend_id = e.backend;
    a.first_seen = from_ms(e.first_ms());
    a.last_seen = from_ms(e.last_ms);
    a.connects = e.connects;
    a.bytes_in = e.bytes_in;
    a.bytes_out = e.bytes_out;
    return a;
  }

  bool in_use(uint32_t s) const { return slots[s].prev != kFreeMark; }
};

AffinityTable::AffinityTable(uint64_t capacity, Duration tracking, unsigned shards) {
  capacity = std::clamp<uint64_t>(capacity, 1, kMaxCapacity);
  uint64_t n = shards != 0 ? shards : (capacity <= kSmallTable ? 1 : kAutoShards);
  n = std::max(n, (capacity + kMaxShardNominal - 1) / kMaxShardNominal);
  n = std::min<uint64_t>(n, kMaxShards);
  std::random_device rd;
  seed_ = mix64((uint64_t{rd()} << 32) ^ rd() ^
                static_cast<uint64_t>(MonoClock::now().time_since_epoch().count()));
  capacity_.store(capacity, std::memory_order_relaxed);
  set_tracking(tracking);
  Geometry g = geometry_for(capacity, n);
  shards_.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    shards_.push_back(std::make_unique<Shard>(seed_));
    shards_.back()->adopt(g, LazyArray<Slot>(g.phys), LazyArray<uint32_t>(g.buckets));
  }
}

AffinityTable::~AffinityTable() = default;

uint64_t AffinityTable::hash_of(const IpKey& key) const { return mix64(key.hash() ^ seed_); }

size_t AffinityTable::shard_index(uint64_t hash) const {
  // The top bits pick the shard; the index uses the low 32 bits for the bucket
  // and the low bits of the high half for the tag.
  return ((hash >> 32) * shards_.size()) >> 32;
}

AffinityTable::Shard& AffinityTable::shard_for(uint64_t hash) const {
  return *shards_[shard_index(hash)];
}

uint64_t AffinityTable::tracking_ms() const {
  int64_t ns = tracking_ns_.load(std::memory_order_relaxed);
  // Rounded up, so a sub-millisecond tracking time does not become "never".
  return ns <= 0 ? 0 : (static_cast<uint64_t>(ns) + 999'999) / 1'000'000;
}

bool AffinityTable::try_reserve() {
  uint64_t cur = size_.load(std::memory_order_relaxed);
  while (cur < capacity_.load(std::memory_order_relaxed)) {
    if (size_.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

std::optional<uint32_t> AffinityTable::lookup(const IpKey& client, MonoTime now) {
  uint64_t h = hash_of(client);
  uint64_t now_ms = to_ms(now);
  uint64_t track = tracking_ms();
  Shard& sh = shard_for(h);
  std::lock_guard lock(sh.mu);
  uint32_t b = sh.find(client, h);
  if (b == kNil) {
    sh.misses.add();
    return std::nullopt;
  }
  uint32_t s = sh.word_slot(sh.index[b]);
  Slot& e = sh.slots[s];
  if (is_expired(e.last_ms, now_ms, track)) {
    sh.detach(b, s);
    sh.free_slot(s);
    size_.fetch_sub(1, std::memory_order_relaxed);
    sh.expirations.add();
    sh.misses.add();
    return std::nullopt;
  }
  sh.touch(s);
  sh.hits.add();
  return e.backend;
}

void AffinityTable::record(const IpKey& client, uint32_t backend_id, MonoTime now) {
  uint64_t h = hash_of(client);
  uint64_t now_ms = to_ms(now);
  uint64_t track = tracking_ms();
  size_t sh_index = shard_index(h);
  Shard& sh = *shards_[sh_index];
  bool reserved = false;  // we hold one unit of size_ for a new entry
  for (;;) {
    std::unique_lock lock(sh.mu);
    uint32_t at = kNil;  // where a new entry goes in the index
    uint32_t b = sh.find(client, h, &at);
    if (b != kNil) {
      if (reserved) size_.fetch_sub(1, std::memory_order_relaxed);
      uint32_t s = sh.word_slot(sh.index[b]);
      Slot& e = sh.slots[s];
      if (is_expired(e.last_ms, now_ms, track)) {
        // An expired entry is gone as far as clients can tell: start afresh.
        sh.expirations.add();
        Shard::reset(e, backend_id, now_ms);
      } else {
        e.backend = backend_id;
        if (e.connects != UINT32_MAX) ++e.connects;
        e.last_ms = std::max<uint64_t>(e.last_ms, now_ms);
      }
      sh.touch(s);
      return;
    }
    if (!reserved) reserved = try_reserve();
    if (reserved) {
      uint32_t s = sh.alloc_slot();
      if (s == kNil) {
        // Out of physical room below global capacity (beyond the slack; not
        // expected): replace this shard's LRU and give the unit back.
        uint32_t hole;
        s = sh.evict_lru(now_ms, track, &hole);
        at = sh.insertion_after_erase(h, at, hole);
        size_.fetch_sub(1, std::memory_order_relaxed);
      }
      sh.fill(s, at, client, h, backend_id, now_ms);
      return;
    }
    if (sh.count > 0) {  // full: replace this shard's LRU entry
      uint32_t hole;
      uint32_t s = sh.evict_lru(now_ms, track, &hole);
      sh.fill(s, sh.insertion_after_erase(h, at, hole), client, h, backend_id, now_ms);
      return;
    }
    // Full, and this shard is empty: take the room from another shard. Never
    // hold two shard locks, so drop ours and look the key up again after.
    lock.unlock();
    reserved = steal_one(sh_index, now_ms, track);
    if (!reserved) std::this_thread::yield();  // units in flight elsewhere
  }
}

bool AffinityTable::steal_one(size_t except, uint64_t now_ms, uint64_t tracking_ms) {
  size_t n = shards_.size();
  for (size_t k = 1; k < n; ++k) {
    Shard& o = *shards_[(except + k) % n];
    std::lock_guard lock(o.mu);
    if (o.count == 0) continue;
    o.free_slot(o.evict_lru(now_ms, tracking_ms));
    return true;  // size_ unchanged: the unit passes to the caller
  }
  return false;
}

void AffinityTable::add_bytes(const IpKey& client, uint64_t bytes_in, uint64_t bytes_out) {
  uint64_t h = hash_of(client);
  Shard& sh = shard_for(h);
  std::lock_guard lock(sh.mu);
  uint32_t b = sh.find(client, h);
  if (b == kNil) return;
  Slot& e = sh.slots[sh.word_slot(sh.index[b])];
  e.bytes_in = sat_add56(e.bytes_in, bytes_in);
  e.bytes_out = sat_add56(e.bytes_out, bytes_out);
}

bool AffinityTable::forget(const IpKey& client) {
  uint64_t h = hash_of(client);
  Shard& sh = shard_for(h);
  std::lock_guard lock(sh.mu);
  uint32_t b = sh.find(client, h);
  if (b == kNil) return false;
  uint32_t s = sh.word_slot(sh.index[b]);
  sh.detach(b, s);
  sh.free_slot(s);
  size_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

uint64_t AffinityTable::forget_backend(uint32_t backend_id) {
  uint64_t total = 0;
  for (auto& shp : shards_) {
    Shard& sh = *shp;
    std::lock_guard lock(sh.mu);
    uint64_t n = 0;
    // Slot order, not LRU order: sequential memory, and removal does not move
    // other slots.
    for (uint32_t s = 0; s < sh.high_water; ++s) {
      if (!sh.in_use(s) || sh.slots[s].backend != backend_id) continue;
      sh.detach_slot(s);
      sh.free_slot(s);
      ++n;
    }
    size_.fetch_sub(n, std::memory_order_relaxed);
    total += n;
  }
  return total;
}

uint64_t AffinityTable::reassign_backend(uint32_t from, uint32_t to) {
  uint64_t total = 0;
  for (auto& shp : shards_) {
    Shard& sh = *shp;
    std::lock_guard lock(sh.mu);
    for (uint32_t s = 0; s < sh.high_water; ++s) {
      if (sh.in_use(s) && sh.slots[s].backend == from) {
        sh.slots[s].backend = to;
        ++total;
      }
    }
  }
  return total;
}

uint64_t AffinityTable::count_backend(uint32_t backend_id) const {
  uint64_t total = 0;
  for (auto& shp : shards_) {
    const Shard& sh = *shp;
    std::lock_guard lock(sh.mu);
    for (uint32_t s = 0; s < sh.high_water; ++s) {
      if (sh.in_use(s) && sh.slots[s].backend == backend_id) ++total;
    }
  }
  return total;
}

std::unordered_map<uint32_t, uint64_t> AffinityTable::count_by_backend() const {
  std::unordered_map<uint32_t, uint64_t> counts;
  std::vector<uint32_t> ids;  // one shard's backend ids, reused
  for (auto& shp : shards_) {
    const Shard& sh = *shp;
    std::unique_lock lock(sh.mu);
    while (ids.capacity() < sh.high_water) {
      // Room first, allocated without the lock (a resize may have grown the
      // shard meanwhile: look again).
      const size_t need = sh.high_water;
      lock.unlock();
      ids.reserve(need);
      lock.lock();
    }
    ids.clear();
    for (uint32_t s = 0; s < sh.high_water; ++s) {
      if (sh.in_use(s)) ids.push_back(sh.slots[s].backend);
    }
    lock.unlock();
    for (uint32_t id : ids) ++counts[id];
  }
  return counts;
}

void AffinityTable::set_tracking(Duration tracking) {
  tracking_ns_.store(std::max<int64_t>(0, tracking.count()), std::memory_order_relaxed);
}

Duration AffinityTable::tracking() const {
  return Duration(tracking_ns_.load(std::memory_order_relaxed));
}

void AffinityTable::trim_to(uint64_t capacity) {
  for (;;) {
    uint64_t total = size_.load(std::memory_order_relaxed);
    if (total <= capacity) return;
    const uint64_t quota = total - capacity;
    uint64_t excess = quota;
    uint64_t evicted = 0;
    for (auto& shp : shards_) {
      if (excess == 0) break;
      Shard& sh = *shp;
      std::lock_guard lock(sh.mu);
      // This shard's share of this pass's quota, in proportion to its size, so
      // each shard keeps its most recent entries (exact LRU with one shard).
      auto share = static_cast<uint64_t>(
          (static_cast<unsigned __int128>(quota) * sh.count + total - 1) / total);
      uint64_t k = std::min<uint64_t>({share, excess, sh.count});
      for (uint64_t i = 0; i < k; ++i) sh.free_slot(sh.evict_lru(0, 0));
      size_.fetch_sub(k, std::memory_order_relaxed);
      excess -= k;
      evicted += k;
    }
    if (evicted == 0) std::this_thread::yield();  // only inserts in flight left
  }
}

void AffinityTable::resize(uint64_t capacity) {
  std::lock_guard admin(resize_mu_);
  capacity = std::clamp<uint64_t>(capacity, 1, kMaxShardNominal * shards_.size());
  capacity = std::min(capacity, kMaxCapacity);
  uint64_t old = capacity_.load(std::memory_order_relaxed);
  // Shrink: lower the limit first so inserts stop growing the table, then
  // evict down to it. Grow: enlarge the shards first, then raise the limit.
  if (capacity < old) {
    capacity_.store(capacity, std::memory_order_relaxed);
    trim_to(capacity);
  }
  Geometry g = geometry_for(capacity, shards_.size());
  for (auto& shp : shards_) {
    Shard& sh = *shp;
    std::lock_guard lock(sh.mu);
    uint32_t dropped = sh.rebuild(g);
    sh.evictions.add(dropped);
    size_.fetch_sub(dropped, std::memory_order_relaxed);
  }
  if (capacity > old) capacity_.store(capacity, std::memory_order_relaxed);
}

std::vector<AffinityEntry> AffinityTable::list(MonoTime now, uint64_t offset,
                                               uint64_t limit) const {
  std::vector<AffinityEntry> out;
  if (limit == 0) return out;
  uint64_t now_ms = to_ms(now);
  uint64_t track = tracking_ms();
  out.reserve(std::min(limit, size_.load(std::memory_order_relaxed)));
  uint64_t skip = offset;
  for (auto& shp : shards_) {
    const Shard& sh = *shp;
    std::lock_guard lock(sh.mu);
    // Without expiry every entry is listed, so whole shards can be skipped.
    if (track == 0 && sh.count <= skip) {
      skip -= sh.count;
      continue;
    }
    for (uint32_t s = sh.head; s != kNil; s = sh.slots[s].next) {
      const Slot& e = sh.slots[s];
      if (is_expired(e.last_ms, now_ms, track)) continue;
      if (skip > 0) {
        --skip;
        continue;
      }
      out.push_back(sh.snapshot(e));
      if (out.size() == limit) return out;
    }
  }
  return out;
}

AffinityStats AffinityTable::stats() const {
  AffinityStats st;
  for (auto& shp : shards_) {
    st.hits += shp->hits.get();
    st.misses += shp->misses.get();
    st.evictions += shp->evictions.get();
    st.expirations += shp->expirations.get();
  }
  st.size = size();
  st.capacity = capacity();
  return st;
}

uint64_t AffinityTable::size() const { return size_.load(std::memory_order_relaxed); }

uint64_t AffinityTable::capacity() const { return capacity_.load(std::memory_order_relaxed); }

}  // namespace nib
