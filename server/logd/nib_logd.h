#pragma once
// nib-logd's command line (issue 14): puts nib's clients back into the
// backends' own access logs.
//   merge  offline, Pen's mergelogs: nib's log and each backend's log files
//          (LogMerger).
//   serve  live, Pen's penlogd: one UDP port receives nib's log (nib -l
//          HOST:PORT) and the web servers' lines (penlog), and each server
//          line is written at once with its client (LogdServer, LiveMerger).
//          Always in the foreground (penlogd's -f): there is no -p pid file
//          or daemon mode; a service manager supervises it.
#include <ostream>
#include <string>
#include <vector>

namespace nib::logd {

// Exit codes: 0 done (serve: ended by SIGTERM or SIGINT), 1 the output could
// not be opened or written (serve: or the socket not bound), 2 bad usage or
// input (the message names the file and line).
int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace nib::logd
