#pragma once
// REST v1's JSON for the admin data model: a nib.admin.v1 message printed
// through protobuf's JSON mapping (google/protobuf/util/json_util.h), with
// the v1 conventions applied from the message's descriptor, so no view is
// rendered by hand: field names as in the .proto (json_name where one is
// set), enum values as lower-case words without their prefix
// (BALANCE_MODE_ROUND_ROBIN: "roundrobin"), 64-bit integers as numbers, and
// unset message fields as null.
#include <string>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include "admin/http/json.h"

namespace nib::admin {

json::Value v1_json(const google::protobuf::Message& message);

// An enum value's word: its name without the enum's prefix, lower case,
// without underscores. Also how REST reads enums in request bodies.
std::string enum_word(const google::protobuf::EnumValueDescriptor& value);

}  // namespace nib::admin
