#pragma once
// How an AccessRecord becomes one line: Pen's, JSON, or an operator's
// template. Parsed once at start; append() runs on the writer thread only.
//
// Pen's lines are what its companions read:
//   file: "CLIENT_IP UNIX_TIME BACKEND_IP REQUEST"  (mergelogs -p pen.log)
//   UDP:  "+ CLIENT_IP BACKEND_IP REQUEST"          (penlogd's "+" entries)
// where REQUEST is the first line of the client's first bytes ("-" if none).
// Pen's format carries no ports, bytes or reason: use json or a template for
// those.
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/config/service_config.h"
#include "dataplane/log/access_record.h"

namespace nib {

class AccessLineFormat {
 public:
  // The template's placeholders, in the order `nib --help` and the docs list them.
  enum class Field : uint8_t {
    kTime, kUnix, kService, kClient, kClientIp, kClientPort, kBackend, kBackendIp, kBackendPort,
    kBytesIn, kBytesOut, kDurationMs, kConnectMs, kReason, kFailovers, kRequest, kProtocol, kBackendSourcePort,
  };

  // `udp`: the destination is a datagram socket (Pen's format then takes its
  // "+" form). Errors name the bad placeholder.
  static Result<AccessLineFormat> make(AccessLogFormat format, std::string_view template_text, bool udp);

  // Appends one line, '\n' included, to `out`.
  void append(const AccessRecord& r, std::string& out) const;

 private:
  struct Part {
    std::string literal;  // written before the field
    bool has_field = false;
    Field field = Field::kTime;
  };

  bool json_ = false;
  std::vector<Part> parts_;
};

}  // namespace nib
