#pragma once
// Pen's access control list: which clients a service (or the control port)
// talks to. Entries are checked in order and the first match decides. When
// nothing matches, the answer is the opposite of the last entry's action, as
// in Pen (acl.c): a list ending in "deny X" lets everyone else in, one ending
// in "permit X" keeps everyone else out; an empty list permits everyone.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/net/country_lookup.h"
#include "dataplane/net/ip_prefix.h"
#include "dataplane/net/socket_address.h"

namespace nib {

struct AccessEntry {
  bool permit = true;
  // A 16-byte key and mask (IPv4 as v4-mapped, its mask all ones in the first
  // 96 bits), so Pen's dotted masks need not be contiguous. `address` is
  // already masked.
  IpKey address;
  IpKey mask;
  // Pen's "country CC" entry instead of an address: two upper-case letters
  // ("SE"); both zero for an address entry.
  std::array<char, 2> country{};

  bool is_country() const { return country[0] != 0; }

  // From a prefix: "10.0.0.0/8", "::1/128" (the prefix's rules, host bits are an error).
  static AccessEntry from_prefix(bool permit, const IpPrefix& prefix);
  // Pen's "a.b.c.d [mask]" (mask defaults to 255.255.255.255; host bits are
  // masked away, as Pen does) or "ipv6[/length]" (length defaults to 128);
  // "a.b.c.d/len" (no mask) is accepted too.
  static Result<AccessEntry> parse_pen(bool permit, std::string_view ip, std::string_view mask);
  // Pen's "country CC": an ISO 3166 code of two letters, either case.
  static Result<AccessEntry> from_country(bool permit, std::string_view code);
  // "permit 10.0.0.0/8", "deny ::1/128", "deny country SE": canonical text.
  std::string to_string() const;
  // Address entries only.
  bool matches(const IpKey& ip) const;

  bool operator==(const AccessEntry&) const = default;
};

class AccessList {
 public:
  AccessList() = default;
  explicit AccessList(std::vector<AccessEntry> entries) : entries_(std::move(entries)) {}

  void add(const AccessEntry& entry) { entries_.push_back(entry); }
  void clear() { entries_.clear(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<AccessEntry>& entries() const { return entries_; }

  // Allocation-free; any thread, as long as nobody changes the list. Country
  // entries ask `countries` (once per call, and only when one is reached);
  // without a lookup they match no client.
  bool permits(const SocketAddress& client, const CountryLookup* countries = nullptr) const {
    return permits(client.ip_key(), countries);
  }
  bool permits(const IpKey& ip, const CountryLookup* countries = nullptr) const;
  // True when an entry is a country: the list then needs a CountryLookup.
  bool has_country_entries() const;

  bool operator==(const AccessList&) const = default;

 private:
  std::vector<AccessEntry> entries_;
};

// "permit 10.0.0.0/8" / "deny ::1" (an IpPrefix after the word), Pen's
// "permit 10.0.0.0 255.0.255.0" (a dotted mask), or "deny country SE": what
// AccessEntry::to_string() writes. Errors are kInvalidArgument and say what
// was expected.
Result<AccessEntry> parse_access_entry(std::string_view text);

}  // namespace nib
