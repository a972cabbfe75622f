#pragma once
// A CountryLookup from a fixed table, for tests of the ACL paths: clients in
// 127.0.0.0/8 get the countries the test gives them. (The GeoIP-backed
// lookup is tested against Debian's packaged database on its own.)
#include <atomic>
#include <map>
#include <string>

#include "dataplane/net/country_lookup.h"

namespace nib::test {

class TableCountryLookup final : public CountryLookup {
 public:
  // "127.0.0.2" -> "SE".
  explicit TableCountryLookup(std::map<std::string, std::string> table) : table_(std::move(table)) {}
  Status prepare() override {
    prepared_ = true;
    return {};
  }
  std::string_view country(const IpKey& ip) const override {
    lookups_.fetch_add(1, std::memory_order_relaxed);
    auto it = table_.find(ip.to_string());
    return prepared_ && it != table_.end() ? std::string_view(it->second) : std::string_view();
  }
  uint64_t lookups() const { return lookups_.load(); }

 private:
  const std::map<std::string, std::string> table_;
  std::atomic<bool> prepared_{false};
  mutable std::atomic<uint64_t> lookups_{0};
};

}  // namespace nib::test
