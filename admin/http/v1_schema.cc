#include "admin/http/v1_schema.h"

#include <google/protobuf/descriptor.pb.h>

#include <cstdlib>
#include <map>
#include <memory>

#include "admin/core/admin_api.h"
#include "admin/http/v1_json.h"
#include "dataplane/base/log.h"
#include "nib/admin/v1/admin.pb.h"

namespace nib::admin {
namespace embedded {
extern const std::string_view nib_admin_v1_desc;  // admin/CMakeLists.txt
}

namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;

// admin.proto's comments by element full name ("nib.admin.v1.Backend.port"),
// one line each. Built once from the embedded descriptor set: the compiled-in
// descriptors carry no source info.
class ProtoComments {
 public:
  static const ProtoComments& instance() {
    static const ProtoComments comments;
    return comments;
  }
  std::string of(const std::string& full_name) const {
    auto it = text_.find(full_name);
    return it == text_.end() ? std::string() : it->second;
  }

 private:
  ProtoComments() {
    google::protobuf::FileDescriptorSet set;
    if (!set.ParseFromArray(embedded::nib_admin_v1_desc.data(), static_cast<int>(embedded::nib_admin_v1_desc.size()))) {
      die("the embedded descriptor set does not parse");
    }
    for (const auto& file : set.file()) {
      const google::protobuf::FileDescriptor* built = pool_.BuildFile(file);
      if (built == nullptr) die("cannot build " + file.name());
      for (int i = 0; i < built->message_type_count(); ++i) add_message(*built->message_type(i));
      for (int i = 0; i < built->enum_type_count(); ++i) add_enum(*built->enum_type(i));
    }
  }
  [[noreturn]] static void die(const std::string& why) {  // a build defect; the unit test sees it first
    log_error("admin API descriptors: " + why);
    std::abort();
  }
  template <typename Element>
  void add(const Element& e) {
    google::protobuf::SourceLocation where;
    if (!e.GetSourceLocation(&where)) return;
    std::string text = where.trailing_comments.empty() ? where.leading_comments : where.trailing_comments;
    std::string line;
    for (char ch : text) {  // one line, single spaces
      if (ch == '\n' || ch == ' ') {
        if (!line.empty() && line.back() != ' ') line += ' ';
      } else {
        line += ch;
      }
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (!line.empty()) text_[e.full_name()] = line;
  }
  void add_message(const Descriptor& m) {
    add(m);
    for (int i = 0; i < m.field_count(); ++i) add(*m.field(i));
    for (int i = 0; i < m.nested_type_count(); ++i) add_message(*m.nested_type(i));
    for (int i = 0; i < m.enum_type_count(); ++i) add_enum(*m.enum_type(i));
  }
  void add_enum(const EnumDescriptor& e) {
    add(e);
    for (int i = 0; i < e.value_count(); ++i) add(*e.value(i));
  }

  google::protobuf::DescriptorPool pool_;
  std::map<std::string, std::string, std::less<>> text_;
};

const std::string kRefPrefix = "#/components/schemas/";

bool is_timestamp(const FieldDescriptor& f) {
  return f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
         f.message_type()->full_name() == "google.protobuf.Timestamp";
}

// An enum as v1 writes it: its words, each value's comment in the description.
json::Value enum_schema(const EnumDescriptor& type, std::string* description) {
  json::Value words = json::Value::array();
  std::string meanings;
  for (int i = 0; i < type.value_count(); ++i) {
    const auto& value = *type.value(i);
    if (value.number() == 0) continue;  // UNSPECIFIED: never printed, never accepted
    words.push_back(enum_word(value));
    std::string meaning = ProtoComments::instance().of(value.full_name());
    if (!meaning.empty()) meanings += (meanings.empty() ? "" : "; ") + enum_word(value) + ": " + meaning;
  }
  if (!meanings.empty()) *description += (description->empty() ? "" : ". ") + meanings;
  json::Value schema = json::Value::object();
  schema.set("type", "string").set("enum", std::move(words));
  return schema;
}

// One value of `f` (an element, for a list), and its description.
json::Value value_schema(const FieldDescriptor& f, std::string* description) {
  json::Value s = json::Value::object();
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: return s.set("type", "integer");
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT: return s.set("type", "number");
    case FieldDescriptor::CPPTYPE_BOOL: return s.set("type", "boolean");
    case FieldDescriptor::CPPTYPE_STRING: return s.set("type", "string");
    case FieldDescriptor::CPPTYPE_ENUM: return enum_schema(*f.enum_type(), description);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (is_timestamp(f)) return s.set("type", "string").set("format", "date-time");
      return s.set("$ref", kRefPrefix + f.message_type()->name());
  }
  return s;
}

// A field as v1_json() prints it: lists as arrays, unset messages as null.
json::Value field_schema(const FieldDescriptor& f, std::string description) {
  json::Value item = value_schema(f, &description);
  json::Value s;
  if (f.is_repeated()) {
    s = json::Value::object();
    s.set("type", "array").set("items", std::move(item));
  } else if (is_timestamp(f)) {
    s = std::move(item);
    s.set("nullable", true);
  } else if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    json::Value all = json::Value::array();
    all.push_back(std::move(item));  // OpenAPI 3.0 ignores a $ref's siblings
    s = json::Value::object();
    s.set("allOf", std::move(all)).set("nullable", true);
  } else {
    s = std::move(item);
  }
  if (!description.empty()) s.set("description", description);
  if (f.options().deprecated()) s.set("deprecated", true);
  return s;
}

std::string json_key(const FieldDescriptor& f) { return f.has_json_name() ? f.json_name() : f.name(); }

}  // namespace

std::string BodyFields::field_of(const std::string& key) const {
  for (const auto& [from, to] : renamed) {
    if (from == key) return to;
  }
  return key;
}

std::span<const RequestBody> request_bodies() {
  static const RequestBody kBodies[] = {
      {"BackendCreate", v1::AddBackendRequest::descriptor(),
       {{"address", "port", "weight", "prio", "soft_limit", "hard_limit", "proxy_protocol", "tcp_fast_open"},
        {"address", "port"}},
       v1::Backend::descriptor()},
      {"BackendPatch", v1::UpdateBackendRequest::descriptor(),
       {{"weight", "prio", "soft_limit", "hard_limit", "enabled", "address", "port", "proxy_protocol",
         "tcp_fast_open"}},
       v1::Backend::descriptor()},
      {"DrainRequest", v1::DrainBackendRequest::descriptor(), {{"timeout_seconds"}}},
      {"MigrateRequest", v1::MigrateClientsRequest::descriptor(), {{"to"}, {}, {{"to", "to_backend_id"}}}},
      {"PinRequest", v1::PinClientRequest::descriptor(), {{"backend_id"}, {"backend_id"}}},
      {"ClientAclUpdate", v1::SetClientAclRequest::descriptor(), {{"entries"}, {"entries"}}, v1::ClientAcl::descriptor()},
      {"TlsUpdate", v1::SetTlsRequest::descriptor(),
       {{"cert_file", "key_file", "ca_file", "ca_dir", "sni_path", "min_version", "ciphers", "client_auth",
         "prefer_server_ciphers", "alpn", "ocsp_response_file"}},
       v1::TlsSettings::descriptor()},
      {"PolicyUpdate", v1::SetPolicyRequest::descriptor(),
       {{"mode", "stubborn", "consistent", "tracking_seconds", "blacklist_seconds", "table_size", "connect_timeout_seconds",
         "idle_timeout_seconds", "max_connections", "pending_max", "idlers"}},
       v1::Policy::descriptor()},
  };
  return kBodies;
}

const RequestBody& request_body(std::string_view name) {
  for (const RequestBody& b : request_bodies()) {
    if (b.name == name) return b;
  }
  log_error("REST: no request body " + std::string(name));  // a typo in rest_api.cc; its tests fail first
  std::abort();
}

void add_response_schemas(const Descriptor& type, json::Value* schemas) {
  if (schemas->find(type.name()) != nullptr) return;
  schemas->set(type.name(), json::Value());  // placeholder: recursion stops here
  json::Value properties = json::Value::object();
  std::vector<const Descriptor*> referenced;
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor& f = *type.field(i);
    properties.set(json_key(f), field_schema(f, ProtoComments::instance().of(f.full_name())));
    if (f.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !is_timestamp(f)) referenced.push_back(f.message_type());
  }
  json::Value schema = json::Value::object();
  schema.set("type", "object");
  if (std::string about = ProtoComments::instance().of(type.full_name()); !about.empty()) {
    schema.set("description", about);
  }
  schema.set("properties", std::move(properties));
  schemas->set(type.name(), std::move(schema));
  for (const Descriptor* d : referenced) add_response_schemas(*d, schemas);
}

json::Value request_schema(const RequestBody& body) {
  json::Value properties = json::Value::object();
  for (const std::string& key : body.fields.allowed) {
    const std::string name = body.fields.field_of(key);
    const FieldDescriptor* f = body.request->FindFieldByName(name);
    if (f == nullptr) continue;  // RestApi answers INTERNAL for it; its tests fail first
    std::string description = ProtoComments::instance().of(f->full_name());
    const FieldDescriptor* same = body.described_by ? body.described_by->FindFieldByName(name) : nullptr;
    if (description.empty() && same != nullptr) description = ProtoComments::instance().of(same->full_name());
    json::Value s = field_schema(*f, description);
    if (const FieldRule* rule = field_rule(name)) {
      if (rule->integer) s.set("minimum", rule->integer->min).set("maximum", rule->integer->max);
      if (rule->seconds) {
        s.set("minimum", rule->seconds->min).set("maximum", rule->seconds->max);
        if (rule->seconds->min_exclusive) s.set("exclusiveMinimum", true);
      }
    }
    properties.set(key, std::move(s));
  }
  json::Value schema = json::Value::object();
  schema.set("type", "object").set("additionalProperties", false);
  if (!body.fields.required.empty()) {
    json::Value required = json::Value::array();
    for (std::string_view key : body.fields.required) required.push_back(key);
    schema.set("required", std::move(required));
  }
  if (std::string about = ProtoComments::instance().of(body.request->full_name()); !about.empty()) {
    schema.set("description", about);
  }
  return schema.set("properties", std::move(properties));
}

}  // namespace nib::admin
