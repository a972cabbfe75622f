#include "admin/http/v1_json.h"

#include <google/protobuf/util/json_util.h>

#include <charconv>

namespace nib::admin {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

json::Value adapt(const Descriptor& type, const json::Value& printed);

// One printed value of `field` in v1's conventions.
json::Value adapt_value(const FieldDescriptor& field, const json::Value& v) {
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT64: {
      if (!v.is_string()) return v;
      // The mapping writes 64-bit integers as strings (JavaScript's numbers
      // lose precision past 2^53); v1 always gave numbers.
      const std::string& text = v.as_string();
      if (field.cpp_type() == FieldDescriptor::CPPTYPE_UINT64) {
        uint64_t n = 0;
        std::from_chars(text.data(), text.data() + text.size(), n);
        return json::Value(static_cast<unsigned long long>(n));
      }
      int64_t n = 0;
      std::from_chars(text.data(), text.data() + text.size(), n);
      return json::Value(static_cast<long long>(n));
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      if (!v.is_string()) return v;
      const auto* value = field.enum_type()->FindValueByName(v.as_string());
      return value ? json::Value(enum_word(*value)) : v;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      // Well-known types (Timestamp: RFC 3339 text) keep the mapping's form.
      if (field.message_type()->file()->package() == "google.protobuf") return v;
      return adapt(*field.message_type(), v);
    default: return v;
  }
}

json::Value adapt(const Descriptor& type, const json::Value& printed) {
  json::Value out = json::Value::object();
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor& f = *type.field(i);
    const std::string key = f.has_json_name() ? f.json_name() : f.name();
    const json::Value* v = printed.find(f.name());
    if (v == nullptr) {
      // Printed with every primitive and list: only unset messages are absent.
      if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f.is_repeated()) out.set(key, nullptr);
      continue;
    }
    if (!f.is_repeated()) {
      out.set(key, adapt_value(f, *v));
      continue;
    }
    json::Value list = json::Value::array();
    for (const auto& item : v->as_array()) list.push_back(adapt_value(f, item));
    out.set(key, std::move(list));
  }
  return out;
}

}  // namespace

std::string enum_word(const google::protobuf::EnumValueDescriptor& value) {
  std::string prefix;  // BalanceMode: "BALANCE_MODE"
  for (char ch : value.type()->name()) {
    if (ch >= 'A' && ch <= 'Z' && !prefix.empty()) prefix += '_';
    prefix += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
  }
  std::string_view name = value.name();
  if (name.starts_with(prefix + "_")) name.remove_prefix(prefix.size() + 1);
  std::string word;
  for (char ch : name) {
    if (ch != '_') word += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  }
  return word;
}

json::Value v1_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string text;
  // Printing cannot fail for the messages the views fill (valid UTF-8 text:
  // what nib stores passes stored_text's checks).
  (void)google::protobuf::util::MessageToJsonString(message, &text, options);
  auto printed = json::parse(text, {.max_bytes = SIZE_MAX, .max_depth = 64});
  if (!printed.ok()) return json::Value();
  return adapt(*message.GetDescriptor(), *printed);
}

}  // namespace nib::admin
