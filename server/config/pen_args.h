#pragma once
// nib's command line: Pen's (a drop-in for pen users, exactly one service) plus
// long options (--config, --check, --demo, --help, --version).
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "server/config/app_config.h"

namespace nib {

struct CommandLine {
  enum class Action { kRun, kCheck, kHelp, kVersion, kDemo };
  Action action = Action::kRun;
  AppConfig config;  // for kRun / kCheck (already loaded from --config when given)
  // Options accepted with no effect (Pen's obsolete ones, ...): one line each
  // for stderr, printed before nib starts.
  std::vector<std::string> warnings;
};

class PenArgs {
 public:
  // args excludes argv[0]. Errors name the option and what was expected.
  static Result<CommandLine> parse(const std::vector<std::string>& args);
  static std::string usage();
};

}  // namespace nib
