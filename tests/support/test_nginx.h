#pragma once
// A real nginx for tests that need a real web server behind nib (access logs
// in their own formats, a PROXY protocol parser): one process in the
// foreground, every file it writes in a test's directory.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "tests/support/nib_process.h"

namespace nib::test {

inline constexpr const char* kNginxBinary = "/usr/sbin/nginx";

// Starts nginx with `servers` (the http block's server and log_format lines)
// in `dir`, and waits until each of `ports` on 127.0.0.1 accepts. SIGQUIT
// is its graceful stop (its logs complete); the process is killed when the
// returned object goes.
Result<std::unique_ptr<NibProcess>> start_nginx(const std::string& dir, const std::string& servers,
                                                const std::vector<uint16_t>& ports);

}  // namespace nib::test
