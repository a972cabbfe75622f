#pragma once
// The regular expressions health checks search backend replies with
// (expect_regex). A backend's bytes are hostile input, so the matcher must
// neither recurse per input byte (libstdc++'s std::regex_search does, and a
// 32 KiB reply overflowed the checker's stack: issue 17, finding 1) nor
// backtrack into exponential time.
//
// Why our own engine and not POSIX regcomp/regexec: glibc makes no complexity
// promise, expands counted repetitions into copies at compile time
// ((a{1000}){1000} is a million nodes) and recurses over back-references
// (CVE-2018-20796, CVE-2019-9192); and configs were written in ECMAScript
// syntax, which POSIX ERE reads differently (\d, (?:...), lazy quantifiers).
// This is Thompson's construction run as a Pike VM without captures: time is
// O(input × program), memory O(program), the match loop keeps its work list on
// the heap (no recursion per byte), and the compiler bounds the program size,
// the nesting depth and every repetition count (dataplane/config/limits.h).
//
// Syntax: an ECMAScript subset over bytes. Literals and \-escaped
// punctuation; . (any byte but \n and \r); [...] and [^...] with ranges;
// \d \D \w \W \s \S; \n \r \t \f \v \0 \xHH; ^ and $ (the reply's start and
// end, not lines); \b \B; groups (...) and (?:...); alternation |;
// * + ? {n} {n,} {n,m}, each optionally lazy (a trailing ?, which changes
// nothing when only "does it match" is asked). Rejected with a reason:
// back-references, lookaround, named groups, \u \p \c escapes. The
// rest of a reply beyond what a check reads (limits::kMaxCheckReplyBytes) is
// never seen: there $ does not match.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/base/status.h"

namespace nib {

class LinearRegex {
 public:
  // What a pattern may cost: its length, its program (the per-byte work),
  // its nesting of groups (the compiler's recursion) and {n,m} counts.
  struct Bounds {
    size_t max_pattern_bytes;
    size_t max_instructions;
    uint32_t max_depth;
    uint32_t max_repeat;
  };

  // kInvalidArgument with what is wrong and where ("unmatched ')' at offset 3").
  static Result<LinearRegex> compile(std::string_view pattern, const Bounds& bounds);

  // Whether the pattern matches anywhere in `text`, which is the whole input
  // (^ matches at its start, $ at its end). Allocates its work lists.
  bool search(std::string_view text) const;

  size_t instructions() const { return program_.size(); }

  // A search over input that arrives in pieces (a TCP reply read by read):
  // each byte is looked at once. Not thread-safe; the regex must outlive it.
  class Search {
   public:
    explicit Search(const LinearRegex& regex);
    // Back to the start of a new input.
    void reset();
    // The next bytes of the input; true once the pattern matched (it stays so).
    bool feed(std::string_view bytes);
    // The input ended after what was fed: $ (and \b) may match at its end.
    // Not called for an input cut short, whose end is not known.
    bool finish();
    bool matched() const { return matched_; }

   private:
    // `next` when the byte after the position is not known yet.
    static constexpr int kUnknown = -2;
    // Follows the empty-width instructions from `pc` into run_, with the
    // bytes on either side of the current position (-1: none).
    void close_over(uint32_t pc, int prev, int next, bool at_end);
    void close_all(int next, bool at_end);

    const LinearRegex& re_;
    // Sparse sets of program counters: kernel_ holds the threads waiting at
    // the current position, run_ the same after their empty-width closure.
    std::vector<uint32_t> kernel_, kernel_index_, run_, run_index_, next_, next_index_;
    std::vector<uint32_t> stack_;
    size_t kernel_size_ = 0, run_size_ = 0, next_size_ = 0;
    uint64_t position_ = 0;
    int prev_ = -1;
    bool matched_ = false;
  };

 private:
  friend class RegexCompiler;
  enum class Op : uint8_t { kByte, kSplit, kJump, kMatch, kBegin, kEnd, kWordBoundary, kNotWordBoundary };
  struct ByteSet {
    std::array<uint64_t, 4> bits{};
    bool has(uint8_t b) const { return (bits[b >> 6] >> (b & 63)) & 1; }
    void add(uint8_t b) { bits[b >> 6] |= uint64_t{1} << (b & 63); }
  };
  struct Inst {
    Op op;
    uint32_t x = 0;  // kSplit, kJump: a target; kByte: index into sets_
    uint32_t y = 0;  // kSplit: the other target
  };
  std::vector<Inst> program_;  // starts at 0; kMatch somewhere
  std::vector<ByteSet> sets_;
};

}  // namespace nib
