#pragma once
// A small, strict JSON (RFC 8259) value, parser and writer for the REST API.
// None of Debian 12's packaged JSON libraries is in our dependency set, and the
// admin plane needs little: build responses, parse small request bodies and
// reject everything that is not exactly JSON (comments, trailing commas, NaN,
// lone surrogates, invalid UTF-8, duplicate keys) with the offset of the fault.
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "dataplane/base/status.h"

namespace nib::json {

class Value;
using Array = std::vector<Value>;
// Members in insertion order: responses read the way they were built, and
// objects are small enough that a linear find() is cheaper than a map.
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
const char* to_string(Type type);  // "null", "a boolean", "a number", ... for messages

class Value {
 public:
  Value() = default;  // null
  Value(std::nullptr_t) {}                              // NOLINT: implicit by design
  Value(bool b) : v_(b) {}                              // NOLINT
  Value(int n) : v_(static_cast<int64_t>(n)) {}         // NOLINT
  Value(unsigned n) : v_(static_cast<int64_t>(n)) {}    // NOLINT
  Value(long n) : v_(static_cast<int64_t>(n)) {}        // NOLINT
  Value(long long n) : v_(static_cast<int64_t>(n)) {}   // NOLINT
  Value(unsigned long n) : Value(static_cast<unsigned long long>(n)) {}  // NOLINT
  Value(unsigned long long n);                          // NOLINT
  Value(double d) : v_(d) {}                            // NOLINT
  Value(std::string s) : v_(std::move(s)) {}            // NOLINT
  Value(std::string_view s) : v_(std::string(s)) {}     // NOLINT
  Value(const char* s) : v_(std::string(s)) {}          // NOLINT
  Value(Array a) : v_(std::move(a)) {}                  // NOLINT
  Value(Object o) : v_(std::move(o)) {}                 // NOLINT

  static Value array() { return Value(Array{}); }
  static Value object() { return Value(Object{}); }

  Type type() const;
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_number() const { return type() == Type::kNumber; }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }
  // True for numbers written without fraction or exponent that fit int64/uint64.
  bool is_integer() const;

  // Accessors; calling one for the wrong type throws std::bad_variant_access
  // (a programming error: check the type first).
  bool as_bool() const { return std::get<bool>(v_); }
  double as_double() const;
  // Only for is_integer(); the value must fit (check with the ranges below).
  bool fits_int64() const;
  bool fits_uint64() const;
  int64_t as_int64() const;
  uint64_t as_uint64() const;
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }
  Object& as_object() { return std::get<Object>(v_); }

  // Objects: the member's value or nullptr (also for non-objects).
  const Value* find(std::string_view key) const;
  // Objects: sets (replacing) a member; returns *this for chaining.
  Value& set(std::string key, Value value);
  // Arrays: appends.
  void push_back(Value value) { as_array().push_back(std::move(value)); }

  // Structural equality; numbers compare by value (1 == 1.0).
  bool operator==(const Value& other) const;

 private:
  // uint64 holds only values above INT64_MAX, so each integer has one form.
  std::variant<std::nullptr_t, bool, int64_t, uint64_t, double, std::string, Array, Object> v_{nullptr};
};

struct ParseLimits {
  size_t max_bytes = 1 << 20;  // whole input
  size_t max_depth = 64;       // nested arrays/objects
};

// Parses exactly one JSON text (surrounding whitespace allowed). Errors are
// kInvalidArgument: "invalid JSON at line 1, column 14 (offset 13): expected
// ':' after an object key".
Result<Value> parse(std::string_view text, const ParseLimits& limits = {});

// Compact JSON; non-ASCII UTF-8 is written as is, control characters escaped.
// Non-finite doubles (which JSON cannot carry) are written as null.
std::string serialize(const Value& value);
// Indented by two spaces, for documents people read (the OpenAPI file).
std::string serialize_pretty(const Value& value);

// `text` as a JSON string literal, quotes included.
std::string quote(std::string_view text);

}  // namespace nib::json
