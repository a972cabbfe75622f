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
// This is Thompson's construction run as a Pike VM without captures, its
// thread sets cached as DFA states (Search): time is O(input × program) at
// worst and about one table lookup per byte usually, memory O(program) plus a
// bounded cache, the work lists live on the heap (no recursion per byte), and
// the compiler bounds the program size, the nesting depth and every
// repetition count (the caller's Bounds; health checks take theirs from
// dataplane/config/limits.h).
//
// Syntax: an ECMAScript subset over bytes. Literals and \-escaped
// punctuation; . (any byte but \n and \r); [...] and [^...] with ranges,
// and in them POSIX's [:alpha:] (the C locale's classes), [=c=] and [.c.];
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
#include <unordered_map>
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
  //
  // Speed: the threads' sets are turned into DFA states on first use and
  // cached with their transitions (RE2's lazy DFA, without its refinements),
  // so a byte usually costs one table lookup. The cache holds at most
  // kMaxStates states (about 1 KiB each, kept across reset()); when it is full
  // it is emptied and rebuilt, so a pattern that visits more states runs at
  // the Pike VM's O(program) per byte, never worse.
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

    static constexpr size_t kMaxStates = 256;

   private:
    // A set of threads waiting at a position, with what the empty-width
    // instructions there need to know of the past: the start of the input
    // (for ^) and whether the byte before is a word byte (for \b).
    struct State {
      std::vector<uint32_t> threads;  // sorted program counters
      bool begin = false;
      bool after_word = false;
      std::array<int32_t, 256> next;  // by byte: a state, kUnknown, or kMatched
      int8_t match_if_end = -1;       // -1 not computed yet
      int8_t match_before_more = -1;  // the next byte unknown (the end of a piece)
    };
    static constexpr int32_t kUnknownState = -1;
    static constexpr int32_t kMatched = -2;
    // `next` when the byte after the position is not known yet.
    static constexpr int kUnknown = -2;

    int32_t start_state();
    int32_t intern(std::vector<uint32_t>& threads, bool begin, bool after_word);
    // The state after `byte` from `state` (kMatched when a match ends before it).
    int32_t step(int32_t state, uint8_t byte);
    // Whether a match ends at `state`'s position: with the input's end there,
    // or with more input to come.
    bool matches_here(int32_t state, bool at_end);
    // Follows the empty-width instructions from `pc` into run_.
    void close_over(uint32_t pc, int prev, int next, bool at_end, bool begin);
    // run_ := the closure of `threads` and of a new thread at pc 0; true when
    // it reaches the match.
    bool close_all(const std::vector<uint32_t>& threads, bool begin, bool after_word, int next, bool at_end);

    const LinearRegex& re_;
    std::vector<State> states_;
    std::unordered_map<std::string, int32_t> index_;  // State::threads and flags as bytes -> states_ index
    int32_t current_ = kUnknownState;
    // Scratch for closures: a sparse set of program counters, and a stack.
    std::vector<uint32_t> run_, run_index_, stack_;
    size_t run_size_ = 0;
    std::string key_;
    uint64_t flushes_ = 0;  // times the state cache was emptied
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
