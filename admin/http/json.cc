#include "admin/http/json.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace nib::json {
namespace {

// ---- parser ----

class Parser {
 public:
  Parser(std::string_view text, const ParseLimits& limits) : text_(text), limits_(limits) {}

  Result<Value> run() {
    if (text_.size() > limits_.max_bytes) {
      return Status::invalid("invalid JSON: the document is " + std::to_string(text_.size()) +
                             " bytes, more than the limit of " + std::to_string(limits_.max_bytes));
    }
    skip_ws();
    Value v;
    if (!parse_value(&v, 0)) return error_;
    skip_ws();
    if (!at_end()) {
      fail("unexpected " + describe_here() + " after the JSON value");
      return error_;
    }
    return v;
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  void skip_ws() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  // What is at an offset, for messages: "'x'", "byte 0x01", "the end of the input".
  std::string describe_here() const { return describe_at(pos_); }
  std::string describe_at(size_t offset) const {
    if (offset >= text_.size()) return "the end of the input";
    auto c = static_cast<unsigned char>(text_[offset]);
    if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
  }

  // Records the first error; false so parse steps can `return fail(...)`.
  bool fail(const std::string& message) { return fail_at(pos_, message); }
  bool fail_at(size_t offset, const std::string& message) {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < offset && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    error_ = Status::invalid("invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
                             " (offset " + std::to_string(offset) + "): " + message);
    return false;
  }

  bool parse_value(Value* out, size_t depth) {
    if (at_end()) return fail("expected a JSON value, got the end of the input");
    switch (peek()) {
      case '{': return parse_object(out, depth + 1);
      case '[': return parse_array(out, depth + 1);
      case '"': {
        std::string s;
        if (!parse_string(&s)) return false;
        *out = Value(std::move(s));
        return true;
      }
      case 't': return parse_literal("true", Value(true), out);
      case 'f': return parse_literal("false", Value(false), out);
      case 'n': return parse_literal("null", Value(), out);
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number(out);
        return fail("expected a JSON value, got " + describe_here());
    }
  }

  bool parse_literal(std::string_view word, Value value, Value* out) {
    if (text_.substr(pos_, word.size()) != word) {
      return fail("expected a JSON value, got " + describe_here() + " (did you mean " + std::string(word) + "?)");
    }
    pos_ += word.size();
    *out = std::move(value);
    return true;
  }

  bool enter(size_t depth) {
    if (depth > limits_.max_depth) {
      return fail("nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    return true;
  }

  bool parse_object(Value* out, size_t depth) {
    if (!enter(depth)) return false;
    ++pos_;  // '{'
    Object members;
    skip_ws();
    if (!at_end() && peek() == '}') {
      ++pos_;
      *out = Value(std::move(members));
      return true;
    }
    for (;;) {
      skip_ws();
      if (at_end() || peek() != '"') {
        return fail("expected a string as object key, got " + describe_here());
      }
      size_t key_offset = pos_;
      std::string key;
      if (!parse_string(&key)) return false;
      for (const auto& m : members) {
        if (m.first == key) return fail_at(key_offset, "duplicate object key " + quote(key));
      }
      skip_ws();
      if (at_end() || peek() != ':') return fail("expected ':' after an object key, got " + describe_here());
      ++pos_;
      skip_ws();
      Value v;
      if (!parse_value(&v, depth)) return false;
      members.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (at_end()) return fail("expected ',' or '}' in an object, got the end of the input");
      if (peek() == ',') {
        ++pos_;
        skip_ws();
        if (!at_end() && peek() == '}') return fail("trailing comma before '}'");
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        *out = Value(std::move(members));
        return true;
      }
      return fail("expected ',' or '}' in an object, got " + describe_here());
    }
  }

  bool parse_array(Value* out, size_t depth) {
    if (!enter(depth)) return false;
    ++pos_;  // '['
    Array items;
    skip_ws();
    if (!at_end() && peek() == ']') {
      ++pos_;
      *out = Value(std::move(items));
      return true;
    }
    for (;;) {
      skip_ws();
      Value v;
      if (!parse_value(&v, depth)) return false;
      items.push_back(std::move(v));
      skip_ws();
      if (at_end()) return fail("expected ',' or ']' in an array, got the end of the input");
      if (peek() == ',') {
        ++pos_;
        skip_ws();
        if (!at_end() && peek() == ']') return fail("trailing comma before ']'");
        continue;
      }
      if (peek() == ']') {
        ++pos_;
        *out = Value(std::move(items));
        return true;
      }
      return fail("expected ',' or ']' in an array, got " + describe_here());
    }
  }

  // RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool parse_number(Value* out) {
    size_t start = pos_;
    auto digits = [&] {
      size_t n = 0;
      while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_, ++n;
      return n;
    };
    if (peek() == '-') ++pos_;
    if (at_end() || peek() < '0' || peek() > '9') return fail("expected a digit, got " + describe_here());
    if (peek() == '0') {
      ++pos_;
      if (!at_end() && peek() >= '0' && peek() <= '9') return fail_at(start, "numbers may not have leading zeros");
    } else {
      digits();
    }
    bool integral = true;
    if (!at_end() && peek() == '.') {
      integral = false;
      ++pos_;
      if (digits() == 0) return fail("expected a digit after '.', got " + describe_here());
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      integral = false;
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (digits() == 0) return fail("expected a digit in the exponent, got " + describe_here());
    }
    std::string_view literal = text_.substr(start, pos_ - start);
    const char* first = literal.data();
    const char* last = first + literal.size();
    if (integral) {
      if (literal[0] == '-') {
        int64_t i = 0;
        if (std::from_chars(first, last, i).ec == std::errc()) {
          *out = Value(static_cast<long long>(i));
          return true;
        }
      } else {
        uint64_t u = 0;
        if (std::from_chars(first, last, u).ec == std::errc()) {
          *out = Value(static_cast<unsigned long long>(u));
          return true;
        }
      }
      // Too large for 64 bits: fall through to a double, like other parsers.
    }
    double d = 0;
    auto [end, ec] = std::from_chars(first, last, d);
    if (ec == std::errc::result_out_of_range) {
      // from_chars leaves `d` unset then; strtod tells overflow (inf) from
      // underflow (0 or a subnormal, the nearest double). The grammar above
      // admits no locale-dependent text, and nib never calls setlocale.
      std::string copy(literal);
      d = std::strtod(copy.c_str(), nullptr);
      ec = std::isinf(d) ? ec : std::errc();
      end = last;
    }
    if (ec != std::errc() || end != last || !std::isfinite(d)) {
      return fail_at(start, "number " + std::string(literal) + " is out of range");
    }
    *out = Value(d);
    return true;
  }

  bool hex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return fail("expected 4 hex digits after \\u");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_ + i];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else return fail_at(pos_ + i, "expected 4 hex digits after \\u");
    }
    pos_ += 4;
    *out = v;
    return true;
  }

  static void append_utf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      s->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  // \uXXXX, with UTF-16 surrogate pairs joined; a lone surrogate is an error
  // (it cannot be represented in UTF-8).
  bool parse_unicode_escape(std::string* out) {
    size_t start = pos_ - 2;  // at the backslash
    uint32_t cp = 0;
    if (!hex4(&cp)) return false;
    if (cp >= 0xdc00 && cp <= 0xdfff) return fail_at(start, "lone low surrogate \\u" + hex(cp));
    if (cp >= 0xd800 && cp <= 0xdbff) {
      const std::string unpaired = "high surrogate \\u" + hex(cp) + " not followed by a low surrogate";
      if (text_.substr(pos_, 2) != "\\u") return fail_at(start, unpaired);
      pos_ += 2;
      uint32_t low = 0;
      if (!hex4(&low)) return false;
      if (low < 0xdc00 || low > 0xdfff) return fail_at(start, unpaired);
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    append_utf8(out, cp);
    return true;
  }

  static std::string hex(uint32_t v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04X", v);
    return buf;
  }

  // One UTF-8 sequence starting at pos_ (a non-ASCII lead byte), validated:
  // no overlong forms, no encoded surrogates, nothing above U+10FFFF.
  bool copy_utf8(std::string* out) {
    auto byte = [&](size_t i) { return static_cast<unsigned char>(text_[pos_ + i]); };
    unsigned char lead = byte(0);
    size_t len = 0;
    uint32_t cp = 0;
    if (lead >= 0xc2 && lead <= 0xdf) len = 2, cp = lead & 0x1f;
    else if (lead >= 0xe0 && lead <= 0xef) len = 3, cp = lead & 0x0f;
    else if (lead >= 0xf0 && lead <= 0xf4) len = 4, cp = lead & 0x07;
    else return fail("invalid UTF-8: unexpected " + describe_here());
    if (text_.size() - pos_ < len) return fail("truncated UTF-8 sequence");
    for (size_t i = 1; i < len; ++i) {
      if ((byte(i) & 0xc0) != 0x80) return fail_at(pos_ + i, "invalid UTF-8 continuation byte");
      cp = (cp << 6) | (byte(i) & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return fail("overlong UTF-8 sequence");
    if (cp >= 0xd800 && cp <= 0xdfff) return fail("UTF-8 encoded surrogate");
    if (cp > 0x10ffff) return fail("UTF-8 sequence above U+10FFFF");
    out->append(text_.substr(pos_, len));
    pos_ += len;
    return true;
  }

  bool parse_string(std::string* out) {
    size_t start = pos_;
    ++pos_;  // opening quote
    for (;;) {
      if (at_end()) return fail_at(start, "unterminated string");
      auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return fail("control character " + describe_here() + " in a string; escape it");
      if (c >= 0x80) {
        if (!copy_utf8(out)) return false;
        continue;
      }
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (at_end()) return fail_at(start, "unterminated string");
      char e = peek();
      ++pos_;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u':
          if (!parse_unicode_escape(out)) return false;
          break;
        default:
          pos_ -= 2;
          return fail("invalid escape sequence: '\\' followed by " + describe_at(pos_ + 1));
      }
    }
  }

  std::string_view text_;
  ParseLimits limits_;
  size_t pos_ = 0;
  Status error_;
};

// ---- writer ----

void write_number(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip form
  out.append(buf, ec == std::errc() ? end : buf);
}

void write_quoted(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

class Writer {
 public:
  explicit Writer(bool pretty) : pretty_(pretty) {}
  std::string take() { return std::move(out_); }

  void write(const Value& v, int indent) {
    switch (v.type()) {
      case Type::kNull: out_ += "null"; return;
      case Type::kBool: out_ += v.as_bool() ? "true" : "false"; return;
      case Type::kNumber:
        if (v.is_integer()) {
          out_ += v.fits_int64() ? std::to_string(v.as_int64()) : std::to_string(v.as_uint64());
        } else {
          write_number(out_, v.as_double());
        }
        return;
      case Type::kString: write_quoted(out_, v.as_string()); return;
      case Type::kArray: write_array(v.as_array(), indent); return;
      case Type::kObject: write_object(v.as_object(), indent); return;
    }
  }

 private:
  void newline(int indent) {
    if (!pretty_) return;
    out_.push_back('\n');
    out_.append(static_cast<size_t>(indent) * 2, ' ');
  }

  void write_array(const Array& a, int indent) {
    out_.push_back('[');
    for (size_t i = 0; i < a.size(); ++i) {
      if (i > 0) out_.push_back(',');
      newline(indent + 1);
      write(a[i], indent + 1);
    }
    if (!a.empty()) newline(indent);
    out_.push_back(']');
  }

  void write_object(const Object& o, int indent) {
    out_.push_back('{');
    for (size_t i = 0; i < o.size(); ++i) {
      if (i > 0) out_.push_back(',');
      newline(indent + 1);
      write_quoted(out_, o[i].first);
      out_ += pretty_ ? ": " : ":";
      write(o[i].second, indent + 1);
    }
    if (!o.empty()) newline(indent);
    out_.push_back('}');
  }

  bool pretty_;
  std::string out_;
};

}  // namespace

const char* to_string(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return "a boolean";
    case Type::kNumber: return "a number";
    case Type::kString: return "a string";
    case Type::kArray: return "an array";
    case Type::kObject: return "an object";
  }
  return "?";
}

Value::Value(unsigned long long n) {
  if (n <= static_cast<unsigned long long>(std::numeric_limits<int64_t>::max())) {
    v_ = static_cast<int64_t>(n);
  } else {
    v_ = static_cast<uint64_t>(n);
  }
}

Type Value::type() const {
  switch (v_.index()) {
    case 0: return Type::kNull;
    case 1: return Type::kBool;
    case 2:
    case 3:
    case 4: return Type::kNumber;
    case 5: return Type::kString;
    case 6: return Type::kArray;
    default: return Type::kObject;
  }
}

bool Value::is_integer() const {
  return std::holds_alternative<int64_t>(v_) || std::holds_alternative<uint64_t>(v_);
}

bool Value::fits_int64() const { return std::holds_alternative<int64_t>(v_); }
bool Value::fits_uint64() const {
  return std::holds_alternative<uint64_t>(v_) || (std::holds_alternative<int64_t>(v_) && std::get<int64_t>(v_) >= 0);
}
int64_t Value::as_int64() const { return std::get<int64_t>(v_); }
uint64_t Value::as_uint64() const {
  if (const auto* u = std::get_if<uint64_t>(&v_)) return *u;
  return static_cast<uint64_t>(std::get<int64_t>(v_));
}

double Value::as_double() const {
  if (const auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&v_)) return static_cast<double>(*u);
  return std::get<double>(v_);
}

const Value* Value::find(std::string_view key) const {
  const auto* o = std::get_if<Object>(&v_);
  if (o == nullptr) return nullptr;
  for (const auto& [k, v] : *o) {
    if (k == key) return &v;
  }
  return nullptr;
}

Value& Value::set(std::string key, Value value) {
  Object& o = as_object();
  for (auto& [k, v] : o) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  o.emplace_back(std::move(key), std::move(value));
  return *this;
}

bool Value::operator==(const Value& other) const {
  if (type() != other.type()) return false;
  switch (type()) {
    case Type::kNumber:
      if (is_integer() && other.is_integer()) {
        return fits_int64() == other.fits_int64() &&
               (fits_int64() ? as_int64() == other.as_int64() : as_uint64() == other.as_uint64());
      }
      return as_double() == other.as_double();
    default: return v_ == other.v_;
  }
}

Result<Value> parse(std::string_view text, const ParseLimits& limits) { return Parser(text, limits).run(); }

std::string serialize(const Value& value) {
  Writer w(false);
  w.write(value, 0);
  return w.take();
}

std::string serialize_pretty(const Value& value) {
  Writer w(true);
  w.write(value, 0);
  return w.take();
}

std::string quote(std::string_view text) {
  std::string out;
  write_quoted(out, text);
  return out;
}

}  // namespace nib::json
