// The health checks' pattern matcher: ECMAScript's meaning on the subset it
// takes (checked against std::regex on short inputs, where std::regex is
// safe), the patterns it refuses and why, and inputs far beyond what made
// std::regex_search overflow the stack (issue 17, finding 1).
#include "dataplane/base/linear_regex.h"

#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <string>
#include <vector>

namespace nib {
namespace {

constexpr LinearRegex::Bounds kBounds{
    .max_pattern_bytes = 1024, .max_instructions = 2000, .max_depth = 32, .max_repeat = 1000};

LinearRegex compiled(const std::string& pattern) {
  auto re = LinearRegex::compile(pattern, kBounds);
  EXPECT_TRUE(re.ok()) << pattern << ": " << re.status().message();
  return re.ok() ? std::move(*re) : *LinearRegex::compile("", kBounds);
}

std::string refusal(const std::string& pattern) {
  auto re = LinearRegex::compile(pattern, kBounds);
  return re.ok() ? "(compiled)" : re.status().message();
}

TEST(LinearRegexTest, AgreesWithEcmaScriptOnItsSubset) {
  const std::vector<std::string> patterns = {
      "", "a", "abc", "^abc", "abc$", "^abc$", "a|b|c", "(ab|cd)+", "(?:ab)*c", "a*", "a+b", "a?b", "a{2}",
      "a{2,}", "a{1,3}b", "[abc]+", "[^abc]", "[a-z0-9_]+$", "\\d+", "\\D", "\\w+", "\\W", "\\s", "\\S+",
      "\\bfoo\\b", "\\Bo", ".", "a.c", "\\.", "\\+PONG", "^\\+OK", "x*?y", "a{0,2}?b",
      "[\\d.]+", "[-a]", "[a-]", "[\\]]", "\\x41", "\\t", "[]", "(|a)b", "ab|", "^$", "\\$", "\\^", "[.]",
      "^(OK|READY)\\r?$", "HTTP/1\\.[01] 200", "\\bok$"};
  const std::vector<std::string> texts = {
      "", "a", "b", "abc", "xabcx", "aab", "aaab", "ab", "cd", "abcd", "ababc", "foo", "a foo b", "foobar",
      "  ", "x\ny", "+PONG\r\n", "+OK", "12.5", "-", "]", "A", "\t", "OK", "READY\r", "HTTP/1.1 200 OK",
      "not ok", "ok", "aaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaaaaaaaab", "x?y", "a-c", "a.c"};
  // (a|aa)*b and (a*)*b are left to the test below: std::regex takes
  // exponential time on them.
  for (const auto& p : patterns) {
    LinearRegex ours = compiled(p);
    std::regex theirs(p, std::regex::ECMAScript);
    for (const auto& t : texts) {
      EXPECT_EQ(ours.search(t), std::regex_search(t, theirs)) << "pattern '" << p << "' on '" << t << "'";
    }
  }
}

// POSIX's bracket items, which libstdc++'s ECMAScript grammar also reads;
// "[[=f=]]?" was a fuzzer's finding (taken as the bytes "[=f" then "]?").
TEST(LinearRegexTest, PosixItemsInClassesMeanWhatStdRegexSays) {
  const std::vector<std::string> patterns = {
      "[[:digit:]]+", "^[[:alpha:]]+$", "[[:space:]]", "[^[:alnum:]]", "[[:upper:][:digit:]]", "[[:xdigit:]]+$",
      "[[:punct:]]", "[[:d:]]", "[[:w:]]+", "[[=f=]]?", "x[[=f=]]", "[[.a.]-c]", "[[:DIGIT:]]", "[[:blank:]]",
      "[[:print:]]", "[[:graph:]]", "[[:cntrl:]]", "[[:lower:]]", "[a[:digit:]]", "[[:digit:]-]"};
  const std::vector<std::string> texts = {"",    "f",   "x",   "xf",  "b",  "-",   "abc", "a1", "A", " ",
                                          "\t", "\x01", "9",   "_",   "!",  "Ab9", "ff",  "d",  "[", "]"};
  for (const auto& p : patterns) {
    LinearRegex ours = compiled(p);
    std::regex theirs(p, std::regex::ECMAScript);
    for (const auto& t : texts) {
      EXPECT_EQ(ours.search(t), std::regex_search(t, theirs)) << "pattern '" << p << "' on '" << t << "'";
    }
  }
  EXPECT_EQ(refusal("[[:digits:]]"), "unknown character class '[:digits:]' at offset 1");
  EXPECT_EQ(refusal("[[:digit]"), "unterminated '[:' in a class at offset 1");
  EXPECT_EQ(refusal("[[.ab.]]"), "'[.ab.]': only a single byte is supported at offset 1");
}

TEST(LinearRegexTest, DotStopsAtLineBreaks) {
  LinearRegex re = compiled("a.b");
  EXPECT_TRUE(re.search("a-b"));
  EXPECT_FALSE(re.search("a\nb"));
  EXPECT_FALSE(re.search("a\rb"));
  EXPECT_TRUE(compiled("a[^x]b").search("a\nb"));
  EXPECT_TRUE(compiled("a\\sb").search("a\nb"));
}

TEST(LinearRegexTest, MatchesBytesNotCharacters) {
  LinearRegex re = compiled("\\xff\\x00?z");
  EXPECT_TRUE(re.search(std::string("\xff\x00z", 3)));
  EXPECT_TRUE(re.search("\xffz"));
  EXPECT_TRUE(compiled("^.$").search("\xe9"));  // one byte, whatever an encoding says
}

TEST(LinearRegexTest, RefusesWhatItCannotRunInLinearTimeWithAReason) {
  EXPECT_EQ(refusal("(a)\\1"), "back-references are not supported at offset 3");
  EXPECT_EQ(refusal("a(?=b)"), "lookaround and named groups '(?' are not supported (only '(?:') at offset 1");
  EXPECT_EQ(refusal("(?<n>a)"), "lookaround and named groups '(?' are not supported (only '(?:') at offset 0");
  EXPECT_EQ(refusal("\\u0041"), "\\u escapes are not supported at offset 0");
  EXPECT_EQ(refusal("\\p{L}"), "\\p escapes are not supported at offset 0");
  EXPECT_EQ(refusal("\\q"), "unknown escape \\q at offset 0");
  EXPECT_EQ(refusal("(ab"), "unmatched '(' at offset 0");
  EXPECT_EQ(refusal("ab)"), "unmatched ')' at offset 2");
  EXPECT_EQ(refusal("[ab"), "unterminated '[' at offset 0");
  EXPECT_EQ(refusal("*a"), "nothing to repeat at offset 0");
  EXPECT_EQ(refusal("a**"), "nothing to repeat at offset 2");
  EXPECT_EQ(refusal("^*"), "nothing to repeat (an anchor) at offset 0");
  EXPECT_EQ(refusal("a{2,1}"), "{n,m} with n greater than m at offset 1");
  EXPECT_EQ(refusal("a{x}"), "expected {n}, {n,} or {n,m} at offset 1");
  EXPECT_EQ(refusal("a{1001}"), "repetition count above 1000 at offset 1");
  EXPECT_EQ(refusal("[z-a]"), "range out of order at offset 1");
  EXPECT_EQ(refusal("\\x4"), "expected two hex digits after \\x at offset 0");
  EXPECT_EQ(refusal("a\\"), "trailing backslash at offset 1");
  EXPECT_EQ(refusal(std::string(1025, 'a')), "longer than 1024 bytes");
  // Counted repetitions multiply: the program, hence the work per byte, is bounded.
  EXPECT_EQ(refusal("(a{1000}){1000}"),
            "too complex: it needs more than 2000 instructions (fewer alternatives or smaller {n,m} counts)");
  EXPECT_EQ(refusal(std::string(33, '(') + "a" + std::string(33, ')')), "groups nested deeper than 32 at offset 33");
  EXPECT_EQ(refusal(std::string(32, '(') + "a" + std::string(32, ')')), "(compiled)");
}

// What crashed nib: std::regex_search recursed once per byte of a 32 KiB
// reply. Here 256 KiB (four times what a check reads), the patterns that backtracking engines find
// hardest, and no recursion per byte: each finishes (the suite's timeout is
// the bound; no time is asserted).
TEST(LinearRegexTest, HugeInputsAndPathologicalPatternsTakeLinearTime) {
  const std::string big(256 << 10, 'a');
  EXPECT_FALSE(compiled(".*OK").search(big));
  EXPECT_TRUE(compiled(".*OK").search(big + "OK"));
  EXPECT_FALSE(compiled("(a|aa)*b").search(big));
  EXPECT_TRUE(compiled("(a|aa)*b").search(big + "b"));
  EXPECT_FALSE(compiled("(a*)*b").search(big));
  EXPECT_TRUE(compiled("^(a*)*b$").search(big + "b"));
  EXPECT_FALSE(compiled("^(a+)+$").search(big + "!"));
  EXPECT_TRUE(compiled("^(a+)+$").search(big));
  EXPECT_FALSE(compiled("(.*a){20}x").search(big));
  EXPECT_TRUE(compiled("a{100}$").search(big));
}

// "The ninth byte from the end is an a" needs 512 DFA states: more than the
// cache holds, so it is emptied again and again, and the answers stay right.
TEST(LinearRegexTest, AnswersStayRightWhenTheStateCacheOverflows) {
  LinearRegex re = compiled("a[ab]{8}$");
  LinearRegex::Search s(re);
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string text(1 + rng() % 3000, 'b');
    for (char& c : text) c = (rng() & 1) ? 'a' : 'b';
    const bool expected = text.size() >= 9 && text[text.size() - 9] == 'a';
    s.reset();
    EXPECT_EQ(s.feed(text) || s.finish(), expected) << "round " << round;
    EXPECT_EQ(re.search(text), expected) << "round " << round;
  }
}

TEST(LinearRegexTest, SearchesInputThatArrivesInPieces) {
  LinearRegex re = compiled("OK\\r\\n$");
  LinearRegex::Search s(re);
  EXPECT_FALSE(s.feed("+O"));
  EXPECT_FALSE(s.feed("K\r"));
  EXPECT_FALSE(s.feed("\n"));  // $ needs the end of the input, not of a piece
  EXPECT_TRUE(s.finish());

  // A match is found as soon as its last byte arrives, and stays found.
  LinearRegex ready = compiled("READY");
  LinearRegex::Search r(ready);
  EXPECT_FALSE(r.feed("xxREA"));
  EXPECT_TRUE(r.feed("DYyy"));
  EXPECT_TRUE(r.feed("more"));
  EXPECT_TRUE(r.matched());

  // Reused after reset(): ^ is the start of the new input.
  LinearRegex anchored = compiled("^ab");
  LinearRegex::Search a(anchored);
  EXPECT_FALSE(a.feed("xab"));
  a.reset();
  EXPECT_TRUE(a.feed("ab"));

  // \b across a seam sees the byte before it.
  LinearRegex word = compiled("\\bok\\b");
  LinearRegex::Search w(word);
  EXPECT_FALSE(w.feed("no"));
  EXPECT_FALSE(w.feed("k "));  // "nok": no boundary before "ok"
  EXPECT_FALSE(w.feed("ok"));  // the \b after it depends on what comes next
  EXPECT_TRUE(w.finish());
}

}  // namespace
}  // namespace nib
