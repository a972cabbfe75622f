#pragma once
// nib-logd's command line (issue 14): `nib-logd merge` puts nib's clients
// back into the backends' own access logs (LogMerger). The equivalent of
// Pen's mergelogs; for penlogd's live merge over UDP, nib's `-l host:port`
// feeds Debian's penlogd directly.
#include <ostream>
#include <string>
#include <vector>

namespace nib::logd {

// Exit codes: 0 merged, 1 the output could not be written, 2 bad usage or
// input (the message names the file and line).
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace nib::logd
