#include "server/logd/nib_logd.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "server/logd/log_merger.h"

namespace nib::logd {
namespace {

constexpr int kOk = 0, kOutputFailed = 1, kBadInput = 2;

// "ADDRESS=FILE": the backend nib connects to (IP, or IP:PORT when several
// backends share an address) and the file of its access log.
Result<std::pair<SocketAddress, std::string>> parse_server(const std::string& spec) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
    return Status::invalid("--server " + spec + ": expected ADDRESS=FILE, e.g. 10.0.0.5:80=/var/log/nginx/access.log");
  }
  std::string address = spec.substr(0, eq);
  auto with_port = SocketAddress::parse(address);
  if (with_port.ok()) return std::make_pair(*with_port, spec.substr(eq + 1));
  auto ip_only = SocketAddress::from_ip(address, 0);
  if (!ip_only.ok()) return Status::invalid("--server " + spec + ": '" + address + "' is not an IP or IP:PORT");
  return std::make_pair(*ip_only, spec.substr(eq + 1));
}

Status read_into(const std::string& path, const std::function<Status(std::istream&)>& add) {
  std::ifstream in(path);
  if (!in) return Status::invalid(path + ": cannot open: " + std::strerror(errno));
  return add(in);
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("nib-logd: puts nib's clients back into the backends' access logs", "nib-logd");
  app.require_subcommand(1);
  CLI::App* merge = app.add_subcommand(
      "merge",
      "Write the backends' log lines (Common/Combined Log Format), merged in time order, with the client nib "
      "logged in place of nib's address. Matched by the backend's peer port when its log has one "
      "($remote_addr:$remote_port) and nib's log has backend_source_port (format json), else by request line "
      "and time as penlogd does; unmatched lines are written unchanged.");
  std::vector<std::string> nib_logs, servers;
  std::string output;
  double window_seconds = 2;
  merge->add_option("-n,--nib-log", nib_logs, "nib's access log (json, or Pen's format)")->required();
  merge->add_option("-s,--server", servers, "ADDRESS=FILE: a backend (as nib names it) and its access log")
      ->required();
  merge->add_option("-w,--window", window_seconds,
                    "seconds a line's time may lie outside its connection's lifetime (default 2)")
      ->check(CLI::Range(0.0, 86400.0));
  merge->add_option("-o,--output", output, "write here instead of stdout");
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kOk;
  } catch (const CLI::ParseError& e) {
    err << "nib-logd: " << e.what() << "\n";
    return kBadInput;
  }
  LogMerger merger(static_cast<int64_t>(std::llround(window_seconds * 1000)));
  for (const auto& path : nib_logs) {
    Status st = read_into(path, [&](std::istream& in) { return merger.add_nib_log(in, path); });
    if (!st.ok()) {
      err << "nib-logd: " << st.message() << "\n";
      return kBadInput;
    }
  }
  for (const auto& spec : servers) {
    auto server = parse_server(spec);
    Status st = server.ok() ? read_into(server->second,
                                        [&](std::istream& in) {
                                          return merger.add_server_log(server->first, in, server->second);
                                        })
                            : server.status();
    if (!st.ok()) {
      err << "nib-logd: " << st.message() << "\n";
      return kBadInput;
    }
  }
  std::ofstream file;
  if (!output.empty()) {
    file.open(output, std::ios::trunc);
    if (!file) {
      err << "nib-logd: " << output << ": cannot open: " << std::strerror(errno) << "\n";
      return kOutputFailed;
    }
  }
  std::ostream& sink = output.empty() ? out : file;
  MergeReport report = merger.merge(sink);
  sink.flush();
  if (!sink) {
    err << "nib-logd: writing " << (output.empty() ? "stdout" : output) << " failed\n";
    return kOutputFailed;
  }
  err << "nib-logd: " << report.lines << " lines: " << report.by_port << " matched by port, " << report.by_request
      << " by request, " << report.unmatched << " unmatched\n";
  return kOk;
}

}  // namespace nib::logd
