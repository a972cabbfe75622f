// nib: parse the command line, build the App, run it.
#include <sys/resource.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "dataplane/base/log.h"
#include "server/app.h"
#include "server/config/pen_args.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto command_line = nib::PenArgs::parse(args);
  if (!command_line.ok()) {
    std::cerr << "nib: " << command_line.status().message() << "\n";
    return 2;
  }
  // Before the start, so that they reach the terminal even in Pen's background mode.
  for (const auto& warning : command_line->warnings) std::cerr << "nib: warning: " << warning << "\n";
  const bool abort_on_error = command_line->config.abort_on_error;
  nib::Log::set_abort_on_fatal(abort_on_error);  // penctl may change it while nib runs
  const int code = nib::App(std::move(*command_line)).run();
  // Pen's abort_on_error: a failure leaves a core file instead of a status.
  if (code != 0 && nib::Log::abort_on_fatal()) {
    nib::log_error("abort_on_error: exiting with status " + std::to_string(code) + " by abort()");
    rlimit core{};  // as Pen: the core may be as large as the hard limit allows
    if (::getrlimit(RLIMIT_CORE, &core) == 0 && core.rlim_cur < core.rlim_max) {
      core.rlim_cur = core.rlim_max;
      (void)::setrlimit(RLIMIT_CORE, &core);
    }
    std::abort();
  }
  return code;
}
