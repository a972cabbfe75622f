// The health checks' regular expressions (dataplane/base/linear_regex): any
// pattern compiles or is refused with a reason, and any reply is searched
// without a crash, a stack overflow or super-linear time (the finding it
// replaced: issue 17, 1). Three answers must agree on every input: search()
// over the whole text, a Search fed the text in pieces (its lazy DFA, cache
// flushes included), and - for short ASCII patterns and texts, where
// backtracking is cheap - libstdc++'s std::regex in ECMAScript mode, the
// syntax the patterns are written in.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/base/linear_regex.h"
#include "dataplane/config/limits.h"

namespace {

// Whether a quantifier applies to a group that can itself match in more than
// one way (a quantifier, or an empty alternative, inside it): there libstdc++'s
// backtracking is exponential even over 8 characters - "(.*.*.*)*b" takes it
// 1.7 s, "((a*)*)*b" minutes (a CI timeout of the reference, not of
// LinearRegex). Conservative: a '*' in a bracket counts too.
bool nested_quantifier(std::string_view pattern) {
  auto quantifier = [](char c) { return c == '*' || c == '+' || c == '?' || c == '{'; };
  std::vector<bool> ambiguous;  // per open group: has a way to match differently
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    const bool empty_alternative = c == '|' && (i == 0 || pattern[i - 1] == '(' || pattern[i - 1] == '|' ||
                                                 i + 1 == pattern.size() || pattern[i + 1] == ')');
    if (c == '(') {
      ambiguous.push_back(false);
    } else if (c == ')' && !ambiguous.empty()) {
      const bool inner = ambiguous.back();
      ambiguous.pop_back();
      if (inner && i + 1 < pattern.size() && quantifier(pattern[i + 1])) return true;
      if (inner && !ambiguous.empty()) ambiguous.back() = true;
    } else if ((quantifier(c) || empty_alternative) && !ambiguous.empty()) {
      ambiguous.back() = true;
    }
  }
  return false;
}

// Where std::regex may serve as a reference: short (its backtracking is
// exponential: "(.|.)+" over 24 characters took it 28 s in a CI run; over 8
// it is instant), without nested quantifiers, and printable ASCII without the
// escapes whose meaning differs or that LinearRegex refuses by design.
bool std_regex_comparable(const std::string& pattern, const std::string& text) {
  if (pattern.size() > 12 || text.size() > 8 || nested_quantifier(pattern)) return false;
  for (char c : pattern) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  for (char c : text) {
    if (c < 0x09 || c > 0x7e) return false;
  }
  for (size_t i = 0; i + 1 < pattern.size(); ++i) {
    // \c \u \p \x \0-\9 (back-references, octal), \B\b corner cases at NUL:
    // keep to the escapes both define alike.
    if (pattern[i] == '\\' && std::string_view("dDwWsSbBnrtfv.*+?()[]{}|^$\\/-").find(pattern[i + 1]) ==
                                  std::string_view::npos) {
      return false;
    }
    if (pattern[i] == '(' && pattern[i + 1] == '?' && (i + 2 >= pattern.size() || pattern[i + 2] != ':')) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::string pattern = in.ConsumeRandomLengthString(256);
  const size_t piece = in.ConsumeIntegralInRange<size_t>(1, 64);
  std::string text = in.ConsumeRemainingBytesAsString();

  const nib::LinearRegex::Bounds bounds{nib::limits::kMaxRegexPatternBytes, nib::limits::kMaxRegexInstructions,
                                        nib::limits::kMaxRegexNesting, nib::limits::kMaxRegexRepeat};
  auto re = nib::LinearRegex::compile(pattern, bounds);
  if (!re.ok()) {
    if (re.status().message().empty()) std::abort();  // a refusal says why
    return 0;
  }
  const bool whole = re->search(text);
  nib::LinearRegex::Search search(*re);
  bool fed = false;
  for (size_t at = 0; at < text.size() && !fed; at += piece) fed = search.feed(std::string_view(text).substr(at, piece));
  if (!fed) fed = search.finish();
  if (fed != whole) {
    std::fprintf(stderr, "search()=%d but Search in pieces of %zu=%d\n", whole, piece, fed);
    std::abort();
  }
  if (std_regex_comparable(pattern, text)) {
    bool reference;
    try {
      reference = std::regex_search(text, std::regex(pattern, std::regex::ECMAScript));
    } catch (const std::regex_error&) {
      return 0;  // LinearRegex may accept what libstdc++ refuses
    }
    if (reference != whole) {
      std::fprintf(stderr, "LinearRegex=%d, std::regex=%d\n", whole, reference);
      std::abort();
    }
  }
  return 0;
}
