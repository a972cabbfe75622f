#include "dataplane/base/linear_regex.h"

#include <algorithm>
#include <cctype>
#include <utility>

namespace nib {
namespace {

bool is_word(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_alnum(char c) { return is_word(static_cast<unsigned char>(c)) && c != '_'; }

}  // namespace

// Parses the pattern into a small tree, then emits the Pike VM program from
// it. Errors are thrown as CompileError inside and become a Status in
// compile(): a parser is the one place exceptions are allowed.
class RegexCompiler {
 public:
  RegexCompiler(std::string_view pattern, const LinearRegex::Bounds& bounds, LinearRegex* out)
      : p_(pattern), bounds_(bounds), out_(out) {}

  void run() {
    if (p_.size() > bounds_.max_pattern_bytes) {
      fail("longer than " + std::to_string(bounds_.max_pattern_bytes) + " bytes");
    }
    uint32_t root = parse_alternation(0);
    if (pos_ < p_.size()) fail("unmatched ')'", pos_);  // the only way parse_alternation stops early
    emit(root);
    push({LinearRegex::Op::kMatch});
  }

  struct CompileError {
    std::string message;
  };

 private:
  using Op = LinearRegex::Op;
  using ByteSet = LinearRegex::ByteSet;
  struct Node {
    enum class Kind : uint8_t { kEmpty, kSet, kAssert, kConcat, kAlternation, kRepeat };
    Kind kind = Kind::kEmpty;
    ByteSet set;                  // kSet
    Op assertion = Op::kBegin;    // kAssert
    std::vector<uint32_t> kids;   // kConcat, kAlternation; kRepeat: one
    uint32_t min = 0, max = 0;    // kRepeat
    bool unbounded = false;       // kRepeat: {min,}
  };

  [[noreturn]] void fail(const std::string& what) { throw CompileError{what}; }
  [[noreturn]] void fail(const std::string& what, size_t at) {
    throw CompileError{what + " at offset " + std::to_string(at)};
  }

  bool done() const { return pos_ >= p_.size(); }
  char peek() const { return p_[pos_]; }

  uint32_t add(Node n) {
    nodes_.push_back(std::move(n));
    return static_cast<uint32_t>(nodes_.size() - 1);
  }
  uint32_t add_set(const ByteSet& s) {
    Node n;
    n.kind = Node::Kind::kSet;
    n.set = s;
    return add(std::move(n));
  }
  static ByteSet single(uint8_t b) {
    ByteSet s;
    s.add(b);
    return s;
  }

  // alternation := concatenation ('|' concatenation)*
  uint32_t parse_alternation(uint32_t depth) {
    if (depth > bounds_.max_depth) fail("groups nested deeper than " + std::to_string(bounds_.max_depth), pos_);
    std::vector<uint32_t> options{parse_concatenation(depth)};
    while (!done() && peek() == '|') {
      ++pos_;
      options.push_back(parse_concatenation(depth));
    }
    if (options.size() == 1) return options[0];
    Node n;
    n.kind = Node::Kind::kAlternation;
    n.kids = std::move(options);
    return add(std::move(n));
  }

  uint32_t parse_concatenation(uint32_t depth) {
    std::vector<uint32_t> parts;
    while (!done() && peek() != '|' && peek() != ')') parts.push_back(parse_repeat(depth));
    if (parts.size() == 1) return parts[0];
    Node n;
    n.kind = parts.empty() ? Node::Kind::kEmpty : Node::Kind::kConcat;
    n.kids = std::move(parts);
    return add(std::move(n));
  }

  static bool is_quantifier(char c) { return c == '*' || c == '+' || c == '?' || c == '{'; }

  uint32_t parse_repeat(uint32_t depth) {
    const size_t atom_at = pos_;
    uint32_t atom = parse_atom(depth);
    if (done() || !is_quantifier(peek())) return atom;
    if (nodes_[atom].kind == Node::Kind::kAssert) fail("nothing to repeat (an anchor)", atom_at);
    Node n;
    n.kind = Node::Kind::kRepeat;
    n.kids = {atom};
    const size_t at = pos_;
    switch (p_[pos_++]) {
      case '*': n.unbounded = true; break;
      case '+': n.min = 1; n.unbounded = true; break;
      case '?': n.max = 1; break;
      default: parse_counts(at, &n); break;
    }
    if (!done() && peek() == '?') ++pos_;  // lazy: the same answer to "is there a match"
    if (!done() && is_quantifier(peek())) fail("nothing to repeat", pos_);
    return add(std::move(n));
  }

  // After '{': n}, n,} or n,m}.
  void parse_counts(size_t at, Node* n) {
    auto number = [&]() -> uint32_t {
      if (done() || peek() < '0' || peek() > '9') fail("expected {n}, {n,} or {n,m}", at);
      uint64_t v = 0;
      while (!done() && peek() >= '0' && peek() <= '9') {
        v = v * 10 + static_cast<uint64_t>(peek() - '0');
        if (v > bounds_.max_repeat) fail("repetition count above " + std::to_string(bounds_.max_repeat), at);
        ++pos_;
      }
      return static_cast<uint32_t>(v);
    };
    n->min = number();
    n->max = n->min;
    if (!done() && peek() == ',') {
      ++pos_;
      if (!done() && peek() == '}') {
        n->unbounded = true;
      } else {
        n->max = number();
      }
    }
    if (done() || peek() != '}') fail("expected {n}, {n,} or {n,m}", at);
    ++pos_;
    if (!n->unbounded && n->max < n->min) fail("{n,m} with n greater than m", at);
  }

  uint32_t parse_atom(uint32_t depth) {
    const size_t at = pos_;
    char c = p_[pos_++];
    switch (c) {
      case '(': {
        if (!done() && peek() == '?') {
          if (pos_ + 1 < p_.size() && p_[pos_ + 1] == ':') {
            pos_ += 2;
          } else {
            fail("lookaround and named groups '(?' are not supported (only '(?:')", at);
          }
        }
        uint32_t inner = parse_alternation(depth + 1);
        if (done() || peek() != ')') fail("unmatched '('", at);
        ++pos_;
        return inner;
      }
      case '[': return add_set(parse_class(at));
      case '.': {
        ByteSet s;
        for (int b = 0; b < 256; ++b) {
          if (b != '\n' && b != '\r') s.add(static_cast<uint8_t>(b));
        }
        return add_set(s);
      }
      case '^': return add_assert(Op::kBegin);
      case '$': return add_assert(Op::kEnd);
      case '\\': return parse_escape(at);
      case '*':
      case '+':
      case '?':
      case '{': fail("nothing to repeat", at);
      default: return add_set(single(static_cast<uint8_t>(c)));
    }
  }

  uint32_t add_assert(Op op) {
    Node n;
    n.kind = Node::Kind::kAssert;
    n.assertion = op;
    return add(std::move(n));
  }

  // \d \w \s and their complements; false when `c` names none of them.
  static bool class_escape(char c, ByteSet* out) {
    ByteSet s;
    char lower = static_cast<char>(c | 0x20);
    for (int b = 0; b < 256; ++b) {
      bool in = lower == 'd'   ? (b >= '0' && b <= '9')
                : lower == 'w' ? is_word(b)
                : lower == 's' ? (b == ' ' || (b >= '\t' && b <= '\r'))
                               : false;
      if (c == 'D' || c == 'W' || c == 'S') in = !in;
      if (in) s.add(static_cast<uint8_t>(b));
    }
    if (lower != 'd' && lower != 'w' && lower != 's') return false;
    *out = s;
    return true;
  }

  // One byte after a backslash (pos_ is past it): control escapes, \xHH, \0
  // and escaped punctuation. `in_class` reads \b as a backspace.
  uint8_t escaped_byte(size_t at, bool in_class) {
    if (done()) fail("trailing backslash", at);
    char c = p_[pos_++];
    switch (c) {
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'f': return '\f';
      case 'v': return '\v';
      case 'b':
        if (in_class) return '\b';
        break;
      case '0':
        if (!done() && peek() >= '0' && peek() <= '9') fail("octal escapes are not supported", at);
        return 0;
      case 'x': {
        if (pos_ + 1 >= p_.size() || hex_value(p_[pos_]) < 0 || hex_value(p_[pos_ + 1]) < 0) {
          fail("expected two hex digits after \\x", at);
        }
        int v = hex_value(p_[pos_]) * 16 + hex_value(p_[pos_ + 1]);
        pos_ += 2;
        return static_cast<uint8_t>(v);
      }
      default: break;
    }
    if (c >= '1' && c <= '9') fail("back-references are not supported", at);
    if (c == 'u' || c == 'p' || c == 'P' || c == 'c' || c == 'k') {
      fail(std::string("\\") + c + " escapes are not supported", at);
    }
    if (is_alnum(c)) fail(std::string("unknown escape \\") + c, at);
    return static_cast<uint8_t>(c);  // escaped punctuation stands for itself
  }

  uint32_t parse_escape(size_t at) {
    if (done()) fail("trailing backslash", at);
    char c = peek();
    ByteSet s;
    if (class_escape(c, &s)) {
      ++pos_;
      return add_set(s);
    }
    if (c == 'b' || c == 'B') {
      ++pos_;
      return add_assert(c == 'b' ? Op::kWordBoundary : Op::kNotWordBoundary);
    }
    return add_set(single(escaped_byte(at, /*in_class=*/false)));
  }

  // After '[': [^...], ranges a-z, class escapes; ']' first closes at once
  // (ECMAScript's empty class, which matches nothing).
  ByteSet parse_class(size_t at) {
    bool negate = !done() && peek() == '^';
    if (negate) ++pos_;
    ByteSet set;
    for (;;) {
      if (done()) fail("unterminated '['", at);
      if (peek() == ']') {
        ++pos_;
        break;
      }
      const size_t item_at = pos_;
      ByteSet item;
      int lo = class_atom(&item);
      if (lo >= 0 && pos_ + 1 < p_.size() && peek() == '-' && p_[pos_ + 1] != ']') {
        ++pos_;
        ByteSet unused;
        int hi = class_atom(&unused);
        if (hi < 0) fail("a range cannot end with a class escape", item_at);
        if (hi < lo) fail("range out of order", item_at);
        for (int b = lo; b <= hi; ++b) set.add(static_cast<uint8_t>(b));
        continue;
      }
      for (size_t i = 0; i < set.bits.size(); ++i) set.bits[i] |= item.bits[i];
    }
    if (negate) {
      for (auto& w : set.bits) w = ~w;
    }
    return set;
  }

  // One member of a class: a byte (returned, and put in *set), or a class
  // escape such as \d or a POSIX class such as [:digit:] (-1, its bytes in
  // *set).
  int class_atom(ByteSet* set) {
    const size_t at = pos_;
    char c = p_[pos_++];
    if (c == '[' && !done() && (peek() == ':' || peek() == '=' || peek() == '.')) return bracket_item(at, set);
    if (c != '\\') {
      set->add(static_cast<uint8_t>(c));
      return static_cast<uint8_t>(c);
    }
    if (!done() && class_escape(peek(), set)) {
      ++pos_;
      return -1;
    }
    if (!done() && peek() == 'B') fail("\\B inside a class", at);
    uint8_t b = escaped_byte(at, /*in_class=*/true);
    set->add(b);
    return b;
  }

  // POSIX's items inside a class, as libstdc++'s ECMAScript grammar reads
  // them (pos_ is past the '['): [:name:] a character class, [=c=] an
  // equivalence class and [.c.] a collating element, each of one byte in the
  // C locale. Read as plain bytes they would silently mean something else
  // ("[[:digit:]]" the bytes [:dgit followed by a literal ']').
  int bracket_item(size_t at, ByteSet* set) {
    const char kind = p_[pos_++];
    const size_t end = p_.find(std::string{kind, ']'}, pos_);
    if (end == std::string_view::npos) fail(std::string("unterminated '[") + kind + "' in a class", at);
    const std::string_view name = p_.substr(pos_, end - pos_);
    pos_ = end + 2;
    if (kind == ':') {
      if (!posix_class(name, set)) fail("unknown character class '[:" + std::string(name) + ":]'", at);
      return -1;
    }
    if (name.size() != 1) {
      fail(std::string("'[") + kind + std::string(name) + kind + "]': only a single byte is supported", at);
    }
    set->add(static_cast<uint8_t>(name[0]));
    return kind == '.' ? static_cast<uint8_t>(name[0]) : -1;  // an equivalence class ends no range
  }

  // The C locale's classes (and libstdc++'s d, w and s), named in any case as
  // libstdc++ takes them; false for another name.
  static bool posix_class(std::string_view given, ByteSet* out) {
    std::string name(given);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "d" || name == "w" || name == "s") return class_escape(name[0], out);
    using Test = int (*)(int);
    static constexpr std::pair<std::string_view, Test> kClasses[] = {
        {"alnum", ::isalnum}, {"alpha", ::isalpha}, {"blank", ::isblank}, {"cntrl", ::iscntrl},
        {"digit", ::isdigit}, {"graph", ::isgraph}, {"lower", ::islower}, {"print", ::isprint},
        {"punct", ::ispunct}, {"space", ::isspace}, {"upper", ::isupper}, {"xdigit", ::isxdigit}};
    for (const auto& [n, test] : kClasses) {
      if (n != name) continue;
      for (int b = 0; b < 128; ++b) {  // ASCII: nib never sets a locale, bytes above are no class's
        if (test(b)) out->add(static_cast<uint8_t>(b));
      }
      return true;
    }
    return false;
  }

  // ---- code generation

  size_t push(LinearRegex::Inst inst) {
    if (out_->program_.size() >= bounds_.max_instructions) {
      fail("too complex: it needs more than " + std::to_string(bounds_.max_instructions) +
           " instructions (fewer alternatives or smaller {n,m} counts)");
    }
    out_->program_.push_back(inst);
    return out_->program_.size() - 1;
  }
  uint32_t here() const { return static_cast<uint32_t>(out_->program_.size()); }
  LinearRegex::Inst& at(size_t i) { return out_->program_[i]; }

  // Recursion over the tree: its depth is bounded by max_depth groups.
  void emit(uint32_t index) {
    const Node& n = nodes_[index];
    switch (n.kind) {
      case Node::Kind::kEmpty: return;
      case Node::Kind::kSet: {
        out_->sets_.push_back(n.set);
        push({Op::kByte, static_cast<uint32_t>(out_->sets_.size() - 1)});
        return;
      }
      case Node::Kind::kAssert: push({n.assertion}); return;
      case Node::Kind::kConcat:
        for (uint32_t kid : n.kids) emit(kid);
        return;
      case Node::Kind::kAlternation: {
        std::vector<size_t> jumps;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          if (i + 1 == n.kids.size()) {
            emit(n.kids[i]);
            break;
          }
          size_t split = push({Op::kSplit});
          at(split).x = here();
          emit(n.kids[i]);
          jumps.push_back(push({Op::kJump}));
          at(split).y = here();
        }
        for (size_t j : jumps) at(j).x = here();
        return;
      }
      case Node::Kind::kRepeat: {
        const uint32_t kid = n.kids[0];
        for (uint32_t i = 0; i < n.min; ++i) emit(kid);
        if (n.unbounded) {
          size_t loop = push({Op::kSplit});
          at(loop).x = here();
          emit(kid);
          push({Op::kJump, static_cast<uint32_t>(loop)});
          at(loop).y = here();
          return;
        }
        std::vector<size_t> skips;  // x{0,3}: each further copy may be skipped to the end
        for (uint32_t i = n.min; i < n.max; ++i) {
          size_t split = push({Op::kSplit});
          at(split).x = here();
          skips.push_back(split);
          emit(kid);
        }
        for (size_t s : skips) at(s).y = here();
        return;
      }
    }
  }

  std::string_view p_;
  const LinearRegex::Bounds& bounds_;
  LinearRegex* out_;
  size_t pos_ = 0;
  std::vector<Node> nodes_;
};

Result<LinearRegex> LinearRegex::compile(std::string_view pattern, const Bounds& bounds) {
  LinearRegex re;
  try {
    RegexCompiler(pattern, bounds, &re).run();
  } catch (const RegexCompiler::CompileError& e) {
    return Status::invalid(e.message);
  }
  return re;
}

bool LinearRegex::search(std::string_view text) const {
  Search s(*this);
  return s.feed(text) || s.finish();
}

// ---- the Pike VM, cached as a lazy DFA ---------------------------------------

namespace {

// Sparse set insert (Briggs & Torczon): O(1), no clearing between steps.
bool insert(std::vector<uint32_t>& dense, std::vector<uint32_t>& index, size_t& size, uint32_t pc) {
  uint32_t i = index[pc];
  if (i < size && dense[i] == pc) return false;
  index[pc] = static_cast<uint32_t>(size);
  dense[size++] = pc;
  return true;
}

}  // namespace

LinearRegex::Search::Search(const LinearRegex& regex) : re_(regex) {
  const size_t m = re_.program_.size();
  run_.assign(m, 0);
  run_index_.assign(m, 0);
  stack_.reserve(m);
  reset();
}

void LinearRegex::Search::reset() {
  matched_ = false;
  current_ = start_state();
}

int32_t LinearRegex::Search::start_state() {
  std::vector<uint32_t> none;
  return intern(none, /*begin=*/true, /*after_word=*/false);
}

int32_t LinearRegex::Search::intern(std::vector<uint32_t>& threads, bool begin, bool after_word) {
  std::sort(threads.begin(), threads.end());
  key_.assign(reinterpret_cast<const char*>(threads.data()), threads.size() * sizeof(uint32_t));
  key_ += static_cast<char>((begin ? 1 : 0) | (after_word ? 2 : 0));
  if (auto it = index_.find(key_); it != index_.end()) return it->second;
  if (states_.size() >= kMaxStates) {
    // Full: start over. Indices held by the caller are stale now (flushes_ says so).
    states_.clear();
    index_.clear();
    ++flushes_;
  }
  State& s = states_.emplace_back();
  s.threads = threads;
  s.begin = begin;
  s.after_word = after_word;
  s.next.fill(kUnknownState);
  const auto id = static_cast<int32_t>(states_.size() - 1);
  index_.emplace(key_, id);
  return id;
}

void LinearRegex::Search::close_over(uint32_t start, int prev, int next, bool at_end, bool begin) {
  stack_.push_back(start);
  while (!stack_.empty()) {
    uint32_t pc = stack_.back();
    stack_.pop_back();
    if (!insert(run_, run_index_, run_size_, pc)) continue;
    const Inst& inst = re_.program_[pc];
    switch (inst.op) {
      case Op::kByte:   // waits for the next byte
      case Op::kMatch:  // seen by close_all
        break;
      case Op::kJump: stack_.push_back(inst.x); break;
      case Op::kSplit:
        stack_.push_back(inst.y);
        stack_.push_back(inst.x);
        break;
      case Op::kBegin:
        if (begin) stack_.push_back(pc + 1);
        break;
      case Op::kEnd:
        if (at_end) stack_.push_back(pc + 1);
        break;
      case Op::kWordBoundary:
        if (next != kUnknown && is_word(prev) != is_word(next)) stack_.push_back(pc + 1);
        break;
      case Op::kNotWordBoundary:
        if (next != kUnknown && is_word(prev) == is_word(next)) stack_.push_back(pc + 1);
        break;
    }
  }
}

bool LinearRegex::Search::close_all(const std::vector<uint32_t>& threads, bool begin, bool after_word, int next,
                                    bool at_end) {
  const int prev = begin ? -1 : after_word ? 'a' : ' ';  // only its word-ness matters
  run_size_ = 0;
  for (uint32_t pc : threads) close_over(pc, prev, next, at_end, begin);
  close_over(0, prev, next, at_end, begin);  // a match may start at every position
  const auto match = static_cast<uint32_t>(re_.program_.size() - 1);
  const uint32_t i = run_index_[match];
  return i < run_size_ && run_[i] == match;
}

int32_t LinearRegex::Search::step(int32_t state, uint8_t byte) {
  {
    State& s = states_[state];  // not held across intern(), which may move states_
    if (close_all(s.threads, s.begin, s.after_word, byte, /*at_end=*/false)) return s.next[byte] = kMatched;
  }
  std::vector<uint32_t> threads;
  for (size_t i = 0; i < run_size_; ++i) {
    const Inst& inst = re_.program_[run_[i]];
    if (inst.op == Op::kByte && re_.sets_[inst.x].has(byte)) threads.push_back(run_[i] + 1);
  }
  const uint64_t flushes = flushes_;
  const int32_t to = intern(threads, /*begin=*/false, is_word(byte));
  if (flushes_ == flushes) states_[state].next[byte] = to;  // unless the cache was emptied, `state` with it
  return to;
}

bool LinearRegex::Search::matches_here(int32_t state, bool at_end) {
  State& s = states_[state];
  int8_t& known = at_end ? s.match_if_end : s.match_before_more;
  if (known < 0) known = close_all(s.threads, s.begin, s.after_word, at_end ? -1 : kUnknown, at_end) ? 1 : 0;
  return known == 1;
}

bool LinearRegex::Search::feed(std::string_view bytes) {
  if (bytes.empty() || matched_) return matched_;
  for (char ch : bytes) {
    const auto b = static_cast<uint8_t>(ch);
    int32_t to = states_[current_].next[b];
    if (to == kUnknownState) to = step(current_, b);
    if (to == kMatched) return matched_ = true;
    current_ = to;
  }
  // A match that ends with the last byte fed is reported now, not when the
  // next byte comes (so \b, \B and $ do not pass yet).
  return matched_ = matches_here(current_, /*at_end=*/false);
}

bool LinearRegex::Search::finish() {
  if (!matched_) matched_ = matches_here(current_, /*at_end=*/true);
  return matched_;
}

}  // namespace nib
