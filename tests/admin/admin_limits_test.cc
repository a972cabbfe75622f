// The admin plane's one table of limits: well-formed rows, defaults inside
// their ranges, and docs/operations.md ("Admin plane limits") listing every
// row with its default, so the documentation cannot drift from the code.
#include "admin/common/admin_limits.h"

#include <gtest/gtest.h>

#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace nib::admin {
namespace {

std::string number_text(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, end);
}

std::string default_text(const AdminLimitSpec& row) {
  AdminLimits defaults;
  if (row.count) return std::to_string(*row.count(defaults));
  return number_text(*row.seconds(defaults));
}

TEST(AdminLimitsTest, EveryRowIsACountOrADurationWithItsDefaultInRange) {
  std::set<std::string_view> keys;
  std::set<AdminLimitId> counted;
  AdminLimits defaults;
  for (const auto& row : admin_limit_table()) {
    EXPECT_TRUE(keys.insert(row.key).second) << row.key;
    EXPECT_NE(row.count == nullptr, row.seconds == nullptr) << row.key;
    if (row.count) {
      EXPECT_TRUE(row.count_range.contains_unsigned(*row.count(defaults))) << row.key;
    }
    if (row.seconds) {
      EXPECT_TRUE(row.seconds_range.contains(*row.seconds(defaults))) << row.key;
    }
    if (row.counted) {
      EXPECT_TRUE(counted.insert(*row.counted).second) << row.key;
      EXPECT_EQ(limit_key(*row.counted), row.key);
    }
  }
  EXPECT_EQ(counted.size(), static_cast<size_t>(AdminLimitId::kCount)) << "a counted limit has no row";
}

TEST(AdminLimitsTest, OperationsGuideListsEveryLimitWithItsDefault) {
  std::ifstream in(std::string(NIB_SOURCE_DIR) + "/docs/operations.md");
  ASSERT_TRUE(in) << "docs/operations.md";
  std::stringstream text;
  text << in.rdbuf();
  std::string doc = text.str();
  size_t section = doc.find("## Admin plane limits");
  ASSERT_NE(section, std::string::npos);
  for (const auto& row : admin_limit_table()) {
    std::string key = "| `" + std::string(row.key) + "` |";
    size_t at = doc.find(key, section);
    ASSERT_NE(at, std::string::npos) << row.key << " is not in the table";
    std::string line = doc.substr(at, doc.find('\n', at) - at);
    EXPECT_NE(line.find("| " + default_text(row) + " |"), std::string::npos)
        << row.key << ": the default " << default_text(row) << " is not in: " << line;
    if (row.counted) {
      EXPECT_NE(line.find("limit=\"" + std::string(row.key) + "\""), std::string::npos) << row.key << ": " << line;
    }
  }
}

}  // namespace
}  // namespace nib::admin
