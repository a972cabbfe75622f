#pragma once
// The one gate for text nib keeps and writes back out. Backend hosts and
// service names reach the state file (one record per line, fields split at
// spaces), events, logs and pages; a NUL, a line break or a space smuggled into
// one could cut a record short or plant a new one. Every way in passes here:
// the registry's checks (REST, gRPC, penctl, the state file's restore),
// validate() (YAML, Pen's command line, reloads) and the state file reader, so
// a value is refused the same way whichever way it came in. The lengths are in
// limits.h. Errors are kInvalidArgument and start with the caller's label for
// the field ("field \"address\"", "host", ...).
#include <cstddef>
#include <string>
#include <string_view>

#include "dataplane/base/status.h"

namespace nib {

inline constexpr const char* kServiceNameRule = "a name of 1-64 letters, digits, '_', '.' or '-'";

// For messages and logs: quoted, control bytes, DEL and non-ASCII bytes as
// \xNN, cut after max_bytes with "...".
std::string printable(std::string_view text, size_t max_bytes = 64);

// No control byte (C0 or DEL) and at most max_bytes.
Status check_text(std::string_view field, std::string_view value, size_t max_bytes);
// A host name or an IP literal as written: printable ASCII without spaces, at
// most limits::kHostBytes. Empty is allowed (a backend given by address only).
Status check_host(std::string_view field, std::string_view host);
// kServiceNameRule.
Status check_service_name(std::string_view field, std::string_view name);

}  // namespace nib
