#include "dataplane/net/access_list.h"

#include <arpa/inet.h>

namespace nib {
namespace {

IpKey mask_of(unsigned bits) {
  IpKey ones;
  ones.bytes.fill(0xff);
  return mask_key(ones, bits);
}

IpKey and_key(const IpKey& a, const IpKey& b) {
  IpKey out;
  for (size_t i = 0; i < out.bytes.size(); ++i) out.bytes[i] = a.bytes[i] & b.bytes[i];
  return out;
}

// The prefix length when `mask` is contiguous ones, -1 otherwise.
int contiguous_bits(const IpKey& mask) {
  unsigned bits = 0;
  while (bits < 128 && (mask.bytes[bits / 8] & (0x80u >> (bits % 8)))) ++bits;
  return mask == mask_of(bits) ? static_cast<int>(bits) : -1;
}

}  // namespace

AccessEntry AccessEntry::from_prefix(bool permit, const IpPrefix& prefix) {
  AccessEntry e;
  e.permit = permit;
  e.mask = mask_of(prefix.key_bits());
  e.address = and_key(prefix.address, e.mask);
  return e;
}

Result<AccessEntry> AccessEntry::parse_pen(bool permit, std::string_view ip, std::string_view mask) {
  const std::string quoted = "'" + std::string(ip) + "'";
  // IPv6 as Pen writes it, and IPv4 in CIDR form as a convenience.
  if (ip.find(':') != std::string_view::npos || ip.find('/') != std::string_view::npos) {
    if (!mask.empty()) return Status::invalid("an entry with /length takes no mask: " + quoted);
    auto prefix = IpPrefix::parse(ip);
    if (!prefix.ok()) return prefix.status();
    return from_prefix(permit, *prefix);
  }
  auto key = IpKey::parse(ip);
  if (!key.ok() || !key->is_v4()) return Status::invalid("expected an IPv4 or IPv6 address, got " + quoted);
  IpKey m = mask_of(128);
  if (!mask.empty()) {
    in_addr a{};
    if (::inet_pton(AF_INET, std::string(mask).c_str(), &a) != 1) {
      return Status::invalid("expected a dotted IPv4 mask such as 255.255.255.0, got '" + std::string(mask) + "'");
    }
    const auto* b = reinterpret_cast<const uint8_t*>(&a.s_addr);
    for (int i = 0; i < 4; ++i) m.bytes[12 + i] = b[i];
  }
  AccessEntry e;
  e.permit = permit;
  e.mask = m;
  e.address = and_key(*key, m);
  return e;
}

Result<AccessEntry> AccessEntry::from_country(bool permit, std::string_view code) {
  auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  if (code.size() != 2 || !letter(code[0]) || !letter(code[1])) {
    return Status::invalid("expected a two-letter country code such as SE, got '" + std::string(code) + "'");
  }
  AccessEntry e;
  e.permit = permit;
  for (size_t i = 0; i < 2; ++i) e.country[i] = static_cast<char>(code[i] & ~0x20);  // upper case
  return e;
}

bool AccessEntry::matches(const IpKey& ip) const {
  for (size_t i = 0; i < ip.bytes.size(); ++i) {
    if ((ip.bytes[i] & mask.bytes[i]) != address.bytes[i]) return false;
  }
  return true;
}

std::string AccessEntry::to_string() const {
  std::string out = permit ? "permit " : "deny ";
  if (is_country()) return out + "country " + std::string(country.data(), country.size());
  int bits = contiguous_bits(mask);
  if (bits < 0) {
    // Only Pen's dotted IPv4 masks can be non-contiguous.
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &mask.bytes[12], text, sizeof text);
    return out + address.to_string() + " " + text;
  }
  if (address.is_v4() && bits >= 96) return out + address.to_string() + "/" + std::to_string(bits - 96);
  return out + address.to_string() + "/" + std::to_string(bits);
}

bool AccessList::permits(const IpKey& ip, const CountryLookup* countries) const {
  std::string_view country;
  bool looked_up = false;  // a database lookup costs more than every address entry
  for (const AccessEntry& e : entries_) {
    if (!e.is_country()) {
      if (e.matches(ip)) return e.permit;
      continue;
    }
    if (!looked_up && countries != nullptr) country = countries->country(ip);
    looked_up = true;
    if (country == std::string_view(e.country.data(), e.country.size())) return e.permit;
  }
  // Pen's rule: no match means the opposite of the last entry's action.
  return entries_.empty() || !entries_.back().permit;
}

bool AccessList::has_country_entries() const {
  for (const AccessEntry& e : entries_) {
    if (e.is_country()) return true;
  }
  return false;
}

Result<AccessEntry> parse_access_entry(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  size_t space = text.find(' ');
  std::string_view word = text.substr(0, space);
  if (word != "permit" && word != "deny") {
    return Status::invalid("expected 'permit CIDR', 'deny CIDR' or 'permit|deny country CC', got " + quoted);
  }
  std::string_view rest = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
  if (rest.empty()) return Status::invalid("expected an IP address or CIDR prefix after '" + std::string(word) + "' in " + quoted);
  if (rest.starts_with("country ")) {
    std::string_view code = rest.substr(8);
    while (!code.empty() && code.front() == ' ') code.remove_prefix(1);
    return AccessEntry::from_country(word == "permit", code);
  }
  // Pen's "a.b.c.d MASK", as to_string() writes a non-contiguous mask.
  if (size_t gap = rest.find(' '); gap != std::string_view::npos) {
    std::string_view mask = rest.substr(gap + 1);
    while (!mask.empty() && mask.front() == ' ') mask.remove_prefix(1);
    return AccessEntry::parse_pen(word == "permit", rest.substr(0, gap), mask);
  }
  auto prefix = IpPrefix::parse(rest);
  if (!prefix.ok()) return prefix.status();
  return AccessEntry::from_prefix(word == "permit", *prefix);
}

}  // namespace nib
