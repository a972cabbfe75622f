#include "admin/http/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace nib::json {
namespace {

using ::testing::HasSubstr;

Value ok(std::string_view text) {
  auto v = parse(text);
  EXPECT_TRUE(v.ok()) << text << ": " << v.status().message();
  return v.ok() ? *v : Value();
}

std::string error_of(std::string_view text, const ParseLimits& limits = {}) {
  auto v = parse(text, limits);
  EXPECT_FALSE(v.ok()) << "parsed unexpectedly: " << text;
  return v.ok() ? "" : v.status().message();
}

// ---- what parses ----

TEST(JsonTest, Scalars) {
  EXPECT_TRUE(ok("null").is_null());
  EXPECT_EQ(ok("true"), Value(true));
  EXPECT_EQ(ok("false"), Value(false));
  EXPECT_EQ(ok("\"hi\""), Value("hi"));
  EXPECT_EQ(ok(" \t\r\n 42 \n"), Value(42));
}

TEST(JsonTest, Integers) {
  EXPECT_TRUE(ok("0").is_integer());
  EXPECT_EQ(ok("-0").as_int64(), 0);
  EXPECT_EQ(ok("-9223372036854775808").as_int64(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(ok("9223372036854775807").as_int64(), std::numeric_limits<int64_t>::max());
  Value big = ok("18446744073709551615");
  ASSERT_TRUE(big.is_integer());
  EXPECT_FALSE(big.fits_int64());
  EXPECT_EQ(big.as_uint64(), std::numeric_limits<uint64_t>::max());
  // Beyond 64 bits: a double, as other parsers do.
  Value huge = ok("18446744073709551616");
  EXPECT_FALSE(huge.is_integer());
  EXPECT_DOUBLE_EQ(huge.as_double(), 18446744073709551616.0);
  EXPECT_FALSE(ok("-1").fits_uint64());
}

TEST(JsonTest, Decimals) {
  EXPECT_FALSE(ok("1.0").is_integer());
  EXPECT_DOUBLE_EQ(ok("1.5").as_double(), 1.5);
  EXPECT_DOUBLE_EQ(ok("-2.5e3").as_double(), -2500);
  EXPECT_DOUBLE_EQ(ok("1E-2").as_double(), 0.01);
  EXPECT_DOUBLE_EQ(ok("1e+2").as_double(), 100);
  EXPECT_EQ(ok("1e-400").as_double(), 0.0);  // underflow rounds to zero
  EXPECT_EQ(ok("1"), ok("1.0"));             // equal by value
}

TEST(JsonTest, StringEscapes) {
  EXPECT_EQ(ok(R"("a\"b\\c\/d\b\f\n\r\t")").as_string(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(ok(R"("\u0041\u00e9\u20ac")").as_string(), "A\xc3\xa9\xe2\x82\xac");  // A é €
  EXPECT_EQ(ok(R"("\uD83D\uDE00")").as_string(), "\xf0\x9f\x98\x80");             // U+1F600 from a pair
  EXPECT_EQ(ok(R"("\u0000")").as_string(), std::string(1, '\0'));
  EXPECT_EQ(ok("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"").as_string(), "caf\xc3\xa9 \xf0\x9f\x98\x80");  // raw UTF-8
}

TEST(JsonTest, Containers) {
  Value v = ok(R"({"a": [1, 2, {"b": null}], "c": {}, "d": []})");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.as_object().size(), 3u);
  EXPECT_EQ(v.as_object()[0].first, "a");  // insertion order kept
  const Value* a = v.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->as_array().size(), 3u);
  EXPECT_TRUE(a->as_array()[2].find("b")->is_null());
  EXPECT_TRUE(v.find("c")->as_object().empty());
  EXPECT_TRUE(v.find("d")->as_array().empty());
  EXPECT_EQ(v.find("missing"), nullptr);
  EXPECT_EQ(ok("1").find("a"), nullptr);  // find on a non-object
}

TEST(JsonTest, DepthLimitIsInclusive) {
  std::string at_limit = std::string(64, '[') + std::string(64, ']');
  EXPECT_TRUE(parse(at_limit).ok());
  std::string over = std::string(65, '[') + std::string(65, ']');
  EXPECT_THAT(error_of(over), HasSubstr("nesting deeper than 64 levels"));
  EXPECT_THAT(error_of(R"({"a":{"b":1}})", {.max_bytes = 100, .max_depth = 1}), HasSubstr("deeper than 1"));
}

TEST(JsonTest, SizeLimit) {
  EXPECT_TRUE(parse("[1,2]", {.max_bytes = 5, .max_depth = 4}).ok());
  EXPECT_EQ(error_of("[1,2] ", {.max_bytes = 5, .max_depth = 4}),
            "invalid JSON: the document is 6 bytes, more than the limit of 5");
}

// ---- what does not, and the messages ----

TEST(JsonTest, ErrorsNameLineColumnAndOffset) {
  EXPECT_EQ(error_of("{\"a\" 1}"),
            "invalid JSON at line 1, column 6 (offset 5): expected ':' after an object key, got '1'");
  EXPECT_EQ(error_of("{\n  \"a\": 1,\n  \"b\" 2\n}"),
            "invalid JSON at line 3, column 7 (offset 18): expected ':' after an object key, got '2'");
}

TEST(JsonTest, StructuralErrors) {
  EXPECT_THAT(error_of(""), HasSubstr("expected a JSON value, got the end of the input"));
  EXPECT_THAT(error_of("   "), HasSubstr("expected a JSON value, got the end of the input"));
  EXPECT_THAT(error_of("[1,]"), HasSubstr("trailing comma before ']'"));
  EXPECT_THAT(error_of(R"({"a":1,})"), HasSubstr("trailing comma before '}'"));
  EXPECT_THAT(error_of("[1 2]"), HasSubstr("expected ',' or ']' in an array, got '2'"));
  EXPECT_THAT(error_of(R"({"a":1 "b":2})"), HasSubstr("expected ',' or '}' in an object, got '\"'"));
  EXPECT_THAT(error_of("[1"), HasSubstr("expected ',' or ']' in an array, got the end of the input"));
  EXPECT_THAT(error_of("{"), HasSubstr("expected a string as object key, got the end of the input"));
  EXPECT_THAT(error_of("{a:1}"), HasSubstr("expected a string as object key, got 'a'"));
  EXPECT_THAT(error_of("{} {}"), HasSubstr("(offset 3): unexpected '{' after the JSON value"));
  EXPECT_THAT(error_of("tru"), HasSubstr("did you mean true?"));
  EXPECT_THAT(error_of("nul"), HasSubstr("did you mean null?"));
  EXPECT_THAT(error_of("True"), HasSubstr("expected a JSON value, got 'T'"));
  EXPECT_THAT(error_of("'a'"), HasSubstr("expected a JSON value, got '''"));
}

TEST(JsonTest, NotJsonExtensions) {
  EXPECT_THAT(error_of("// c\n1"), HasSubstr("expected a JSON value, got '/'"));
  EXPECT_THAT(error_of("NaN"), HasSubstr("expected a JSON value, got 'N'"));
  EXPECT_THAT(error_of("Infinity"), HasSubstr("got 'I'"));
  EXPECT_THAT(error_of("+1"), HasSubstr("got '+'"));
  EXPECT_THAT(error_of("0x10"), HasSubstr("unexpected 'x' after the JSON value"));
}

TEST(JsonTest, DuplicateKeysAreRejected) {
  EXPECT_EQ(error_of(R"({"a":1,"a":2})"),
            "invalid JSON at line 1, column 8 (offset 7): duplicate object key \"a\"");
}

TEST(JsonTest, NumberErrors) {
  EXPECT_THAT(error_of("01"), HasSubstr("(offset 0): numbers may not have leading zeros"));
  EXPECT_THAT(error_of("-"), HasSubstr("expected a digit, got the end of the input"));
  EXPECT_THAT(error_of("-a"), HasSubstr("expected a digit, got 'a'"));
  EXPECT_THAT(error_of("1."), HasSubstr("expected a digit after '.', got the end of the input"));
  EXPECT_THAT(error_of(".5"), HasSubstr("got '.'"));
  EXPECT_THAT(error_of("1e"), HasSubstr("expected a digit in the exponent"));
  EXPECT_THAT(error_of("1e+"), HasSubstr("expected a digit in the exponent"));
  EXPECT_THAT(error_of("1e999"), HasSubstr("number 1e999 is out of range"));
  EXPECT_THAT(error_of("-1e999"), HasSubstr("number -1e999 is out of range"));
}

TEST(JsonTest, StringErrors) {
  EXPECT_THAT(error_of("\"abc"), HasSubstr("(offset 0): unterminated string"));
  EXPECT_THAT(error_of("\"a\nb\""), HasSubstr("control character byte 0x0a in a string; escape it"));
  EXPECT_THAT(error_of("\"a\tb\""), HasSubstr("control character byte 0x09"));
  EXPECT_THAT(error_of(R"("\x")"), HasSubstr("(offset 1): invalid escape sequence: '\\' followed by 'x'"));
  EXPECT_THAT(error_of(R"("\u12")"), HasSubstr("expected 4 hex digits after \\u"));
  EXPECT_THAT(error_of(R"("\u12G4")"), HasSubstr("(offset 5): expected 4 hex digits after \\u"));
  EXPECT_THAT(error_of(R"("\uDE00")"), HasSubstr("lone low surrogate \\uDE00"));
  EXPECT_THAT(error_of(R"("\uD83D")"), HasSubstr("high surrogate \\uD83D not followed by a low surrogate"));
  EXPECT_THAT(error_of(R"("\uD83Dx")"), HasSubstr("not followed by a low surrogate"));
  EXPECT_THAT(error_of(R"("\uD83D\u0041")"), HasSubstr("not followed by a low surrogate"));
}

TEST(JsonTest, InvalidUtf8IsRejected) {
  EXPECT_THAT(error_of("\"\xff\""), HasSubstr("invalid UTF-8: unexpected byte 0xff"));
  EXPECT_THAT(error_of("\"\x80\""), HasSubstr("invalid UTF-8"));                      // lone continuation
  EXPECT_THAT(error_of("\"\xc0\xaf\""), HasSubstr("invalid UTF-8"));                  // overlong '/'
  EXPECT_THAT(error_of("\"\xe0\x80\xaf\""), HasSubstr("overlong UTF-8 sequence"));
  EXPECT_THAT(error_of("\"\xed\xa0\x80\""), HasSubstr("UTF-8 encoded surrogate"));    // U+D800
  EXPECT_THAT(error_of("\"\xf4\x90\x80\x80\""), HasSubstr("above U+10FFFF"));
  EXPECT_THAT(error_of("\"\xc3\""), HasSubstr("invalid UTF-8 continuation byte"));     // the quote is no continuation
  EXPECT_THAT(error_of("\"\xe2\x82"), HasSubstr("truncated UTF-8 sequence"));
}

// ---- writer ----

TEST(JsonTest, SerializeCompact) {
  Value v = Value::object();
  v.set("s", "a\"b\\\n\x01\x7f").set("n", -3).set("u", uint64_t{18446744073709551615ULL});
  v.set("d", 0.1).set("t", true).set("z", nullptr).set("a", Array{1, "x", Value::object()});
  EXPECT_EQ(serialize(v),
            R"({"s":"a\"b\\\n\u0001\u007f","n":-3,"u":18446744073709551615,"d":0.1,"t":true,"z":null,)"
            R"("a":[1,"x",{}]})");
}

TEST(JsonTest, SetReplacesExistingMember) {
  Value v = Value::object();
  v.set("a", 1).set("a", 2);
  EXPECT_EQ(serialize(v), R"({"a":2})");
}

TEST(JsonTest, NonFiniteDoublesBecomeNull) {
  EXPECT_EQ(serialize(Value(std::nan(""))), "null");
  EXPECT_EQ(serialize(Value(std::numeric_limits<double>::infinity())), "null");
}

TEST(JsonTest, SerializePretty) {
  Value v = ok(R"({"a":[1,{"b":[]}],"c":{}})");
  EXPECT_EQ(serialize_pretty(v), "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"c\": {}\n}");
}

TEST(JsonTest, RoundTrip) {
  const std::string text =
      R"({"name":"caf\u00e9 \ud83d\ude00","list":[0,-1,1.5,1e+300,true,false,null],"deep":{"x":{"y":[[]]}},)"
      R"("max":18446744073709551615,"min":-9223372036854775808,"tiny":5e-324})";
  Value v = ok(text);
  Value again = ok(serialize(v));
  EXPECT_EQ(v, again);
  EXPECT_EQ(serialize(v), serialize(again));
  EXPECT_EQ(again.find("name")->as_string(), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(again.find("tiny")->as_double(), 5e-324);
}

TEST(JsonTest, QuoteEscapes) { EXPECT_EQ(quote("a\"b\t"), R"("a\"b\t")"); }

}  // namespace
}  // namespace nib::json
