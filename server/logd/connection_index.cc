#include "server/logd/connection_index.h"

#include <tuple>

namespace nib {
namespace {

bool same_backend(const SocketAddress& a, const SocketAddress& b) {
  return a.ip_string() == b.ip_string() && (a.port() == 0 || b.port() == 0 || a.port() == b.port());
}

// How far a line logged in whole second `t` (the event lies in [t, t+999])
// falls outside the connection's [start, end]; 0 when they overlap.
int64_t distance(const NibConnection& c, int64_t t) {
  return t + 999 < c.start_ms ? c.start_ms - (t + 999) : (t > c.end_ms ? t - c.end_ms : 0);
}

// Removes the one (key, seq) pair from a multimap of Seq values.
template <typename Map, typename Key>
void erase_pair(Map& map, const Key& key, uint64_t seq) {
  auto [first, last] = map.equal_range(key);
  for (auto it = first; it != last; ++it) {
    if (it->second == seq) {
      map.erase(it);
      return;
    }
  }
}

}  // namespace

ConnectionIndex::ConnectionIndex(int64_t window_ms, size_t capacity)
    : window_ms_(window_ms), capacity_(capacity == 0 ? 1 : capacity) {}

void ConnectionIndex::add(NibConnection c) {
  if (entries_.size() >= capacity_) evict_oldest();
  const Seq seq = next_++;
  if (c.source_port != 0) from_port_.emplace(c.source_port, seq);
  if (!c.request.empty()) with_request_[c.request].emplace(c.start_ms, seq);
  entries_.emplace(seq, std::move(c));
}

void ConnectionIndex::evict_oldest() {
  auto oldest = entries_.begin();
  const NibConnection& c = oldest->second;
  if (c.source_port != 0) erase_pair(from_port_, c.source_port, oldest->first);
  if (auto r = with_request_.find(c.request); r != with_request_.end()) {
    erase_pair(r->second, c.start_ms, oldest->first);
    if (r->second.empty()) with_request_.erase(r);
  }
  entries_.erase(oldest);
  ++evicted_;
}

std::optional<ConnectionIndex::Match> ConnectionIndex::match(const SocketAddress& backend, const ServerLine& line) {
  if (!line.unix_ms) return std::nullopt;
  if (line.remote_port) {
    if (const NibConnection* c = by_port(backend, *line.remote_port, *line.unix_ms)) return Match{c, MatchedBy::kPort};
  }
  if (const NibConnection* c = by_request(backend, line.request, *line.unix_ms)) return Match{c, MatchedBy::kRequest};
  return std::nullopt;
}

const NibConnection* ConnectionIndex::by_port(const SocketAddress& backend, uint16_t port, int64_t t) const {
  const NibConnection* best = nullptr;
  // Nearest in time; of equals, the one that began first (then was added first).
  std::tuple<int64_t, int64_t, Seq> best_key{window_ms_ + 1, 0, 0};
  auto [first, last] = from_port_.equal_range(port);
  for (auto it = first; it != last; ++it) {
    const NibConnection& c = entries_.at(it->second);
    if (!same_backend(c.backend, backend)) continue;
    std::tuple<int64_t, int64_t, Seq> key{distance(c, t), c.start_ms, it->second};
    if (key < best_key) {
      best = &c;
      best_key = key;
    }
  }
  return best;
}

const NibConnection* ConnectionIndex::by_request(const SocketAddress& backend, const std::string& request, int64_t t) {
  auto candidates = with_request_.find(request);
  if (candidates == with_request_.end()) return nullptr;
  auto& by_start = candidates->second;
  for (auto it = by_start.begin(); it != by_start.end(); ++it) {
    if (it->first - window_ms_ > t + 999) break;  // oldest first: none later fits
    const NibConnection& c = entries_.at(it->second);
    if (!same_backend(c.backend, backend) || distance(c, t) > window_ms_) continue;
    by_start.erase(it);  // each connection answers one line by request
    if (by_start.empty()) with_request_.erase(candidates);
    return &c;
  }
  return nullptr;
}

std::string ConnectionIndex::with_client(std::string_view text, const ServerLine& line, const NibConnection& c) {
  std::string out;
  const bool v6 = c.client_ip.find(':') != std::string::npos;
  if (line.remote_port && c.client_port != 0) {
    out = (v6 ? "[" + c.client_ip + "]" : c.client_ip) + ":" + std::to_string(c.client_port);
  } else {
    out = c.client_ip;
  }
  size_t space = text.find(' ');
  if (space != std::string_view::npos) out += text.substr(space);
  return out;
}

}  // namespace nib
