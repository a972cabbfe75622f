#include "dataplane/affinity/client_pins.h"

#include <algorithm>
#include <cstring>

namespace nib {
namespace {

IpPrefix prefix_of(const IpKey& masked, unsigned key_bits) {
  IpPrefix p;
  p.address = masked;
  p.length = static_cast<uint8_t>(masked.is_v4() && key_bits >= 96 ? key_bits - 96 : key_bits);
  return p;
}

}  // namespace

ClientPins::Level* ClientPins::level(unsigned key_bits) {
  for (auto& l : levels_) {
    if (l.key_bits == key_bits) return &l;
  }
  return nullptr;
}

const ClientPins::Level* ClientPins::level(unsigned key_bits) const {
  return const_cast<ClientPins*>(this)->level(key_bits);
}

std::optional<uint32_t> ClientPins::find(const IpKey& client) const {
  for (const auto& l : levels_) {
    auto it = l.pins.find(mask_key(client, l.key_bits));
    if (it != l.pins.end()) return it->second;
  }
  return std::nullopt;
}

std::optional<uint32_t> ClientPins::exact(const IpPrefix& prefix) const {
  const Level* l = level(prefix.key_bits());
  if (l == nullptr) return std::nullopt;
  auto it = l->pins.find(prefix.address);
  if (it == l->pins.end()) return std::nullopt;
  return it->second;
}

std::vector<ClientPin> ClientPins::list() const {
  std::vector<ClientPin> out;
  out.reserve(size_);
  for (const auto& l : levels_) {
    size_t first = out.size();
    for (const auto& [key, id] : l.pins) out.push_back({prefix_of(key, l.key_bits), id});
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(), [](const ClientPin& a, const ClientPin& b) {
      return std::memcmp(a.prefix.address.bytes.data(), b.prefix.address.bytes.data(), 16) < 0;
    });
  }
  return out;
}

ClientPins ClientPins::with(const IpPrefix& prefix, uint32_t backend_id) const {
  ClientPins next = *this;
  const unsigned bits = prefix.key_bits();
  Level* l = next.level(bits);
  if (l == nullptr) {
    auto at = std::find_if(next.levels_.begin(), next.levels_.end(),
                           [bits](const Level& x) { return x.key_bits < bits; });
    l = &*next.levels_.insert(at, Level{bits, {}});
  }
  if (l->pins.insert_or_assign(prefix.address, backend_id).second) ++next.size_;
  return next;
}

ClientPins ClientPins::without(const IpPrefix& prefix) const {
  ClientPins next = *this;
  Level* l = next.level(prefix.key_bits());
  if (l != nullptr && l->pins.erase(prefix.address) == 1) --next.size_;
  std::erase_if(next.levels_, [](const Level& x) { return x.pins.empty(); });
  return next;
}

ClientPins ClientPins::without_backend(uint32_t backend_id) const {
  ClientPins next = *this;
  for (auto& l : next.levels_) {
    next.size_ -= std::erase_if(l.pins, [backend_id](const auto& kv) { return kv.second == backend_id; });
  }
  std::erase_if(next.levels_, [](const Level& x) { return x.pins.empty(); });
  return next;
}

}  // namespace nib
