// REST request bodies (admin/http/rest_api): the input's first line is the
// request line ("POST /api/v1/services/web/backends"), the rest the JSON
// body, handed to RestApi::handle() - what the HTTP server calls for every
// request - against a running Dataplane. No request crashes or hangs, and
// none gets a 5xx but 503 (the event stream, absent here): bad input is the
// client's error, a 4xx that changes nothing.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "admin/common/admin_auth.h"
#include "admin/http/rest_api.h"
#include "admin/metrics/metrics_collector.h"
#include "fuzz/fuzz_dataplane.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& dp = nib::fuzz::FuzzDataplane::instance();
  static nib::admin::AdminAuth auth;  // no token file: everyone is admin
  static nib::admin::MetricsCollector metrics(dp.dataplane());
  static nib::admin::RestApi api(dp.api(), auth, metrics, /*streams=*/nullptr);

  std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t eol = text.find('\n');
  if (eol == std::string_view::npos) return -1;
  std::string_view line = text.substr(0, eol);
  size_t space = line.find(' ');
  if (space == std::string_view::npos) return -1;
  nib::admin::AdminRequest request;
  request.method = std::string(line.substr(0, space));
  request.target = std::string(line.substr(space + 1));
  request.content_type = "application/json";
  request.body = std::string(text.substr(eol + 1));

  nib::admin::AdminResponse response = api.handle(request);
  if (response.status >= 500 && response.status != 503) {
    std::fprintf(stderr, "%s %s -> %d %s\n", request.method.c_str(), request.target.c_str(), response.status,
                 response.body.c_str());
    std::abort();
  }
  dp.reset();
  return 0;
}
