#include "server/logd/nib_logd.h"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "server/logd/log_merger.h"
#include "server/logd/logd_server.h"

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

struct MergeArgs {
  std::vector<std::string> nib_logs, servers;
  std::string output;
  double window_seconds = 2;
};

struct ServeArgs {
  std::string listen, output;
  double window_seconds = 2;
  size_t cache = 1000;
};

void add_window(CLI::App& command, double& seconds) {
  command.add_option("-w,--window", seconds, "seconds a line's time may lie outside its connection's lifetime (default 2)")
      ->check(CLI::Range(0.0, 86400.0));
}

void add_merge(CLI::App& app, MergeArgs& a) {
  CLI::App* merge = app.add_subcommand(
      "merge",
      "Write the backends' log lines (Common/Combined Log Format), merged in time order, with the client nib "
      "logged in place of nib's address. Matched by the backend's peer port when its log has one "
      "($remote_addr:$remote_port) and nib's log has backend_source_port (format json), else by request line "
      "and time as penlogd does; unmatched lines are written unchanged.");
  merge->add_option("-n,--nib-log", a.nib_logs, "nib's access log (json, or Pen's format)")->required();
  merge->add_option("-s,--server", a.servers, "ADDRESS=FILE: a backend (as nib names it) and its access log")
      ->required();
  add_window(*merge, a.window_seconds);
  merge->add_option("-o,--output", a.output, "write here instead of stdout");
}

void add_serve(CLI::App& app, ServeArgs& a) {
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Pen's penlogd: receive nib's access log (nib -l HOST:PORT, or access_log udp) and the web servers' "
      "lines (sent by penlog from the address nib connects to) on one UDP port, and write each server line at "
      "once with the client put back, matched as merge does. A line that comes before its connection closed "
      "waits up to the window plus a second. Stays in the foreground; SIGHUP reopens the output, SIGTERM and "
      "SIGINT end it.");
  serve->add_option("-L,--listen", a.listen, "IP:PORT to receive on ([v6]:PORT; port 0: any, printed)")->required();
  serve->add_option("-o,--output", a.output, "append here instead of writing to stdout");
  add_window(*serve, a.window_seconds);
  serve->add_option("-c,--cache", a.cache, "nib connections remembered, penlogd's -n (default 1000)")
      ->check(CLI::Range(size_t{1}, size_t{10'000'000}));
}

int64_t window_ms(double seconds) { return static_cast<int64_t>(std::llround(seconds * 1000)); }

int run_merge(const MergeArgs& a, std::ostream& out, std::ostream& err) {
  LogMerger merger(window_ms(a.window_seconds));
  for (const auto& path : a.nib_logs) {
    Status st = read_into(path, [&](std::istream& in) { return merger.add_nib_log(in, path); });
    if (!st.ok()) {
      err << "nib-logd: " << st.message() << "\n";
      return kBadInput;
    }
  }
  for (const auto& spec : a.servers) {
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
  if (!a.output.empty()) {
    file.open(a.output, std::ios::trunc);
    if (!file) {
      err << "nib-logd: " << a.output << ": cannot open: " << std::strerror(errno) << "\n";
      return kOutputFailed;
    }
  }
  std::ostream& sink = a.output.empty() ? out : file;
  MergeReport report = merger.merge(sink);
  sink.flush();
  if (!sink) {
    err << "nib-logd: writing " << (a.output.empty() ? "stdout" : a.output) << " failed\n";
    return kOutputFailed;
  }
  err << "nib-logd: " << report.lines << " lines: " << report.by_port << " matched by port, " << report.by_request
      << " by request, " << report.unmatched << " unmatched\n";
  return kOk;
}

int run_serve(const ServeArgs& a, std::ostream& err) {
  auto listen = SocketAddress::parse(a.listen);
  if (!listen.ok()) {
    err << "nib-logd: --listen " << a.listen << ": expected IP:PORT or [IPv6]:PORT\n";
    return kBadInput;
  }
  LogdServer::Options options;
  options.listen = *listen;
  options.output = a.output;
  options.merger.window_ms = window_ms(a.window_seconds);
  options.merger.cache = a.cache;
  auto server = LogdServer::open(options, SystemClock::instance(), err);
  if (!server.ok()) {
    err << "nib-logd: " << server.status().message() << "\n";
    return kOutputFailed;
  }
  err << "nib-logd: listening on udp " << (*server)->local_address().to_string() << std::endl;
  Status st = (*server)->run();
  const LiveMerger::Report& r = (*server)->report();
  err << "nib-logd: " << r.server_lines << " server lines: " << r.by_port << " matched by port, " << r.by_request
      << " by request (" << r.late << " after waiting), " << r.unmatched << " unmatched; " << r.nib_lines
      << " nib lines, " << r.bad_nib_lines << " unreadable" << std::endl;
  if (!st.ok()) {
    err << "nib-logd: " << st.message() << "\n";
    return kOutputFailed;
  }
  return kOk;
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("nib-logd: puts nib's clients back into the backends' access logs", "nib-logd");
  app.require_subcommand(1);
  MergeArgs merge;
  ServeArgs serve;
  add_merge(app, merge);
  add_serve(app, serve);
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
  if (app.got_subcommand("serve")) return run_serve(serve, err);
  return run_merge(merge, out, err);
}

}  // namespace nib::logd
