// nib-logd's merge (server/logd/log_merger): nib's access log and a web
// server's log are files an operator hands it, cut, rotated mid-line or
// foreign. Any input is merged or refused with a reason, never a crash:
// the input is nib's log, a 0xff byte, then the server's log. Every
// non-empty server line comes out exactly once, and the counts add up.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "server/logd/log_merger.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "log_merger: %s\n", what);
  std::abort();
}

size_t non_empty_lines(const std::string& text) {
  size_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nib;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t cut = input.find('\xff');
  const std::string nib_log = input.substr(0, cut);
  const std::string server_log = cut == std::string::npos ? std::string() : input.substr(cut + 1);
  LogMerger merger(2000);
  std::istringstream nib_in(nib_log);
  if (Status st = merger.add_nib_log(nib_in, "nib.log"); !st.ok()) {
    if (st.message().rfind("nib.log:", 0) != 0) fail("a refusal that names no line");
    return 0;
  }
  std::istringstream server_in(server_log);
  if (!merger.add_server_log(*SocketAddress::parse("127.0.0.1:80"), server_in, "web.log").ok()) fail("a read failed");
  std::ostringstream out;
  const MergeReport report = merger.merge(out);
  const size_t lines = non_empty_lines(server_log);
  if (report.lines != lines || non_empty_lines(out.str()) != lines) fail("a server line lost or added");
  if (report.by_port + report.by_request + report.unmatched != report.lines) fail("the counts do not add up");
  return 0;
}
