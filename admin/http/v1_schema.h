#pragma once
// OpenAPI 3.0 schemas for REST v1, derived from the nib.admin.v1 messages
// rather than written by hand: a response schema is what v1_json() prints
// for the message (v1_json.h's conventions), a request body's schema is what
// RestApi reads into the request message (the JSON keys it takes, their
// types, and the core's ranges from field_rule()). Descriptions are the
// comments in admin.proto, read from its descriptor set with source info,
// embedded at build time. So a field added to the .proto, or a range changed
// in limits.h, shows in the document without touching it.
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "admin/http/json.h"

namespace nib::admin {

// The JSON keys a REST request body may hold, read into the request message's
// field of the same proto name (`renamed`: the keys whose field differs).
struct BodyFields {
  std::vector<std::string> allowed;
  std::vector<std::string_view> required = {};
  std::vector<std::pair<std::string, std::string>> renamed = {};  // JSON key -> proto field

  std::string field_of(const std::string& key) const;
};

// One request body REST v1 reads, named as its schema in the document.
struct RequestBody {
  std::string_view name;                            // "BackendCreate"
  const google::protobuf::Descriptor* request;      // read into this message
  BodyFields fields;
  // Describes a field when the request's own field has no comment (the
  // policy's fields are documented on Policy, not on SetPolicyRequest).
  const google::protobuf::Descriptor* described_by = nullptr;
};

// Every body REST v1 reads; rest_api.cc looks its own up by name.
std::span<const RequestBody> request_bodies();
const RequestBody& request_body(std::string_view name);

// Adds the schema of `type`, and of every message it refers to, to `schemas`
// (a JSON object: name -> schema), referring to each other by
// "#/components/schemas/<Name>".
void add_response_schemas(const google::protobuf::Descriptor& type, json::Value* schemas);

// The schema of a request body (additionalProperties false, its required
// keys, the core's ranges).
json::Value request_schema(const RequestBody& body);

}  // namespace nib::admin
