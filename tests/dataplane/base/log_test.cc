// The event log's line formats: Pen-style text and one JSON object per line,
// whose message escaping keeps every line one valid JSON text.
#include "dataplane/base/log.h"

#include <gtest/gtest.h>

namespace nib {
namespace {

// The format is process-wide: each test sets it and puts text back.
class LogFormatTest : public ::testing::Test {
 protected:
  void TearDown() override { Log::set_format(LogFormat::kText); }
  static std::string json_line(std::string_view message) {
    Log::set_format(LogFormat::kJson);
    std::string line = Log::format_line(LogLevel::kWarn, message);
    // {"time":"2026-12-04T15:40:26.042Z","level":"warn","msg":...}\n
    EXPECT_EQ(line.rfind("{\"time\":\"", 0), 0u) << line;
    EXPECT_EQ(line.size() > 2 ? line.substr(line.size() - 2) : line, "}\n");
    const size_t msg = line.find(",\"msg\":");
    EXPECT_EQ(line.substr(9 + 24, msg - 9 - 24), "\",\"level\":\"warn\"") << line;
    return line.substr(msg + 7, line.size() - msg - 9);
  }
};

TEST_F(LogFormatTest, TextIsStampLevelMessage) {
  std::string line = Log::format_line(LogLevel::kInfo, "listening");
  ASSERT_EQ(line.size(), std::string("2026-12-04T15:40:26.042Z INFO listening\n").size()) << line;
  EXPECT_EQ(line.substr(10, 1), "T");
  EXPECT_EQ(line.substr(23), "Z INFO listening\n");
}

TEST_F(LogFormatTest, JsonEscapesWhatJsonMust) {
  EXPECT_EQ(json_line("plain"), "\"plain\"");
  EXPECT_EQ(json_line("say \"hi\" \\ there"), "\"say \\\"hi\\\" \\\\ there\"");
  EXPECT_EQ(json_line("two\nlines\tand\x01\x7f"), "\"two\\nlines\\tand\\u0001\\u007f\"");
  EXPECT_EQ(json_line("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

TEST_F(LogFormatTest, JsonReplacesInvalidUtf8) {
  EXPECT_EQ(json_line("a\xff" "b"), "\"a\\ufffdb\"");
  EXPECT_EQ(json_line("\xc0\xaf"), "\"\\ufffd\\ufffd\"") << "overlong";
  EXPECT_EQ(json_line("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"") << "a surrogate";
  EXPECT_EQ(json_line("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"") << "past U+10FFFF";
  EXPECT_EQ(json_line("cut \xe2\x82"), "\"cut \\ufffd\\ufffd\"") << "truncated";
}

TEST(LogFormatNames, ParseAndPrint) {
  EXPECT_EQ(parse_log_format("json"), LogFormat::kJson);
  EXPECT_EQ(parse_log_format("text"), LogFormat::kText);
  EXPECT_FALSE(parse_log_format("JSON").has_value());
  EXPECT_STREQ(to_string(LogFormat::kJson), "json");
}

}  // namespace
}  // namespace nib
