#include "admin/penctl/penctl_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>
#include <vector>

#include "admin/core/admin_api.h"
#include "admin/pages/pen_status_page.h"
#include "admin/penctl/penctl_listener.h"
#include "dataplane/base/atomic_file.h"
#include "dataplane/base/log.h"
#include "dataplane/config/limits.h"
#include "dataplane/config/pen_ssl_words.h"
#include "dataplane/dataplane.h"
#include "dataplane/net/ip_prefix.h"
#include "dataplane/net/proxy_protocol.h"
#include "dataplane/net/socket_ops.h"

namespace nib::admin {
namespace {

// Connections wait in the backlog only while the loop is between accepts.
constexpr int kBacklog = 128;
// `recent N`, `blacklist N`, ...: whole seconds, as far as a duration can reach.
constexpr IntRange kWholeSeconds{0, static_cast<int64_t>(kMaxSeconds)};

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::optional<uint64_t> parse_uint(const std::string& text) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

// Pen prints its times as whole seconds.
std::string seconds_text(double s) {
  std::ostringstream o;
  o << (s == std::floor(s) ? static_cast<double>(static_cast<int64_t>(s)) : s);
  return o.str();
}

PenctlReply ok(std::string text) { return {std::move(text), false}; }
PenctlReply fail(const std::string& message) { return {"error: " + message + "\n", true}; }
PenctlReply fail(const Status& st) { return fail(st.message()); }

}  // namespace

PenctlServer::PenctlServer(AdminApi& api, PenctlServerOptions options)
    : api_(api), dataplane_(api.dataplane()), options_(std::move(options)) {}

PenctlServer::~PenctlServer() { stop(); }

Status PenctlServer::start() {
  auto fd = unix_path() ? listen_unix() : listen_tcp();
  if (!fd.ok()) return fd.status();
  listener_ = std::make_unique<PenctlListener>(
      std::move(*fd), options_.limits, options_.stats,
      [this](const SocketAddress& peer) { return control_permits(peer); },
      [this](const std::string& line) { return execute(line); });
  return listener_->start();
}

Result<UniqueFd> PenctlServer::listen_tcp() {
  auto address = SocketAddress::parse(options_.listen);
  if (!address.ok()) {
    return Status::invalid("control port (-C) address '" + options_.listen + "': " + address.status().message());
  }
  auto fd = make_tcp_listener(*address, kBacklog, /*reuse_port=*/false);
  if (!fd.ok()) {
    return Status::unavailable("control port (-C): cannot listen on " + address->to_string() + ": " +
                               fd.status().message());
  }
  auto bound = local_address(fd->get());
  if (!bound.ok()) return bound.status();
  control_text_ = bound->to_string();
  port_ = bound->port();
  return fd;
}

Result<UniqueFd> PenctlServer::listen_unix() {
  auto fd = make_unix_listener(options_.listen, kBacklog);
  if (!fd.ok()) return Status(fd.status().code(), "control socket (-C): " + fd.status().message());
  control_text_ = options_.listen;
  socket_path_ = options_.listen;
  return fd;
}

void PenctlServer::stop() {
  if (listener_) listener_->stop();
  // Ours since start() bound it: a later nib must not find it stale-but-there.
  if (!socket_path_.empty()) ::unlink(socket_path_.c_str());
  socket_path_.clear();
}

std::span<const PenctlServer::CommandEntry> PenctlServer::commands() {
  // "Not yet": a later change implements it. "Not in nib": nib has no such
  // feature, or has it another way (the text says which).
  static constexpr std::string_view kNotYet = "not yet supported by nib";
  static constexpr CommandEntry kCommands[] = {
      {"abort_on_error", &PenctlServer::cmd_abort_on_error, {}},
      {"no abort_on_error", &PenctlServer::cmd_abort_on_error, {}},
      {"accept_proxy_protocol", &PenctlServer::cmd_socket_option, {}},
      {"acl", &PenctlServer::cmd_acl, {}},
      {"no acl", &PenctlServer::cmd_no_acl, {}},
      {"ascii", nullptr, "not supported by nib: it does not dump traffic"},
      {"no ascii", &PenctlServer::cmd_in_force, {}},
      {"blacklist", &PenctlServer::cmd_valued, {}},
      {"block", &PenctlServer::cmd_nothing, {}},  // obsolete in Pen 0.26.0, a no-op there too
      {"no block", &PenctlServer::cmd_nothing, {}},
      {"client_acl", &PenctlServer::cmd_client_acl, {}},
      {"clients_max", &PenctlServer::cmd_valued, {}},
      {"close", &PenctlServer::cmd_close, {}},
      {"connection", &PenctlServer::cmd_connection, {}},
      {"conn_max", &PenctlServer::cmd_valued, {}},
      {"control", &PenctlServer::cmd_control, {}},
      {"control_acl", &PenctlServer::cmd_control_acl, {}},
      {"debug", &PenctlServer::cmd_debug, {}},
      {"delayed_forward", &PenctlServer::cmd_nothing, {}},  // obsolete in Pen 0.26.0, a no-op there too
      {"no delayed_forward", &PenctlServer::cmd_nothing, {}},
      {"dsr_if", &PenctlServer::cmd_socket_option, {}},
      {"dsr_ip", nullptr, kNotYet},
      {"dummy", &PenctlServer::cmd_socket_option, {}},
      {"no dummy", &PenctlServer::cmd_socket_option, {}},
      {"epoll", &PenctlServer::cmd_nothing, {}},  // what nib always uses
      {"exit", &PenctlServer::cmd_exit, {}},
      {"hash", &PenctlServer::cmd_flag, {}},
      {"no hash", &PenctlServer::cmd_flag, {}},
      {"http", &PenctlServer::cmd_socket_option, {}},
      {"no http", &PenctlServer::cmd_socket_option, {}},
      {"idle_timeout", &PenctlServer::cmd_valued, {}},
      {"idlers", &PenctlServer::cmd_valued, {}},
      {"keepalive", &PenctlServer::cmd_socket_option, {}},
      {"no keepalive", &PenctlServer::cmd_socket_option, {}},
      {"include", &PenctlServer::cmd_include, {}},
      {"kqueue", nullptr, "not supported by nib: it always uses epoll"},
      {"listen", &PenctlServer::cmd_listen, {}},
      {"log", &PenctlServer::cmd_log, {}},
      {"no log", &PenctlServer::cmd_log, {}},
      {"mode", &PenctlServer::cmd_mode, {}},
      {"pending_max", &PenctlServer::cmd_valued, {}},
      {"pid", &PenctlServer::cmd_pid, {}},
      {"poll", nullptr, "not supported by nib: it always uses epoll"},
      {"prio", &PenctlServer::cmd_flag, {}},
      {"proxy_protocol", &PenctlServer::cmd_socket_option, {}},
      {"no prio", &PenctlServer::cmd_flag, {}},
      {"recent", &PenctlServer::cmd_recent, {}},
      {"roundrobin", &PenctlServer::cmd_flag, {}},
      {"no roundrobin", &PenctlServer::cmd_flag, {}},
      {"select", nullptr, "not supported by nib: it always uses epoll"},
      {"server", &PenctlServer::cmd_server, {}},
      {"servers", &PenctlServer::cmd_servers, {}},
      {"socket", nullptr, "not supported by nib: its connections are not numbered by socket"},
      {"source", &PenctlServer::cmd_socket_option, {}},
      {"ssl_ciphers", &PenctlServer::cmd_ssl, {}},
      {"ssl_client_renegotiation_interval", &PenctlServer::cmd_ssl, {}},
      {"ssl_ocsp_response", &PenctlServer::cmd_ssl, {}},
      {"ssl_option", &PenctlServer::cmd_ssl, {}},
      {"ssl_sni_path", &PenctlServer::cmd_ssl, {}},
      {"status", &PenctlServer::cmd_status, {}},
      {"stubborn", &PenctlServer::cmd_stubborn, {}},
      {"no stubborn", &PenctlServer::cmd_stubborn, {}},
      {"tarpit_acl", &PenctlServer::cmd_tarpit_acl, {}},
      {"tcp_fastclose", &PenctlServer::cmd_socket_option, {}},
      {"tcp_nodelay", &PenctlServer::cmd_socket_option, {}},
      {"no tcp_nodelay", &PenctlServer::cmd_socket_option, {}},
      {"timeout", &PenctlServer::cmd_valued, {}},
      {"tracking", &PenctlServer::cmd_valued, {}},
      {"transparent", &PenctlServer::cmd_socket_option, {}},
      {"no transparent", &PenctlServer::cmd_socket_option, {}},
      {"web_stats", &PenctlServer::cmd_web_stats, {}},
      {"no web_stats", &PenctlServer::cmd_web_stats, {}},
      {"weight", &PenctlServer::cmd_flag, {}},
      {"no weight", &PenctlServer::cmd_flag, {}},
      {"write", &PenctlServer::cmd_write, {}},
  };
  return kCommands;
}

PenctlReply PenctlServer::unsupported(std::string_view command, std::string_view why) {
  return fail("'" + std::string(command) + "' is " + std::string(why));
}

namespace {

std::string command_key(const std::vector<std::string>& w) {
  return w[0] == "no" && w.size() >= 2 ? "no " + w[1] : w[0];
}

// The reason of a failed reply: its text without "error: " and the newline.
std::string reply_error(const PenctlReply& r) {
  std::string text = r.text;
  if (text.starts_with("error: ")) text.erase(0, 7);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace

const PenctlServer::CommandEntry* PenctlServer::find_command(const std::vector<std::string>& w) {
  const std::string key = command_key(w);
  for (const CommandEntry& e : commands()) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

PenctlReply PenctlServer::word_refusal(const std::vector<std::string>& w, const CommandEntry* entry) {
  if (entry == nullptr) {
    return fail("unknown command '" + command_key(w) + "'; see penctl(1) and docs/pen-compat.md");
  }
  if (entry->handler == nullptr) return unsupported(command_key(w), entry->why);
  return {};
}

PenctlReply PenctlServer::execute(const std::string& line) { return dispatch(line, /*check=*/false); }

PenctlReply PenctlServer::dispatch(const std::string& line, bool check) {
  std::vector<std::string> w = split_words(line);
  if (w.empty() || w[0].front() == '#') return {};  // Pen skips comments in its config files too
  const CommandEntry* entry = find_command(w);
  if (PenctlReply refused = word_refusal(w, entry); refused.failed) return refused;
  std::vector<std::string> names = dataplane_.service_names();
  if (names.empty()) return fail("no service");
  return (this->*entry->handler)(Command{w, names.front(), check});
}

Status PenctlServer::read_file_lines(const std::string& path, int depth, std::vector<FileLine>* out) {
  std::ifstream in(path);
  if (!in) return Status::invalid("cannot read " + path + ": " + std::strerror(errno));
  size_t number = 0;
  for (std::string text; std::getline(in, text);) {
    ++number;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    std::vector<std::string> w = split_words(text);
    if (w.empty() || w[0].front() == '#') continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    if (w[0] != "include") {
      out->push_back({path, number, std::move(text)});
      continue;
    }
    if (w.size() != 2) return Status::invalid(where + "include: expected 'include FILE'");
    if (depth + 1 > kMaxIncludeDepth) {
      return Status::invalid(where + "include: nested more than " + std::to_string(kMaxIncludeDepth) +
                             " deep (does a file include itself?)");
    }
    if (Status st = read_file_lines(w[1], depth + 1, out); !st.ok()) {
      // A file that cannot be read is this line's fault; a bad line inside it names itself.
      if (st.message().starts_with("cannot read ")) return Status::invalid(where + "include: " + st.message());
      return st;
    }
  }
  if (in.bad()) return Status::invalid("cannot read " + path + ": " + std::strerror(errno));
  return {};
}

Status PenctlServer::check_file_words(const std::string& path) {
  std::vector<FileLine> lines;
  if (Status st = read_file_lines(path, 0, &lines); !st.ok()) return st;
  for (const FileLine& l : lines) {
    std::vector<std::string> w = split_words(l.text);
    if (PenctlReply refused = word_refusal(w, find_command(w)); refused.failed) {
      return Status::invalid(l.file + ":" + std::to_string(l.number) + ": " + reply_error(refused));
    }
  }
  return {};
}

Status PenctlServer::run_file(const std::string& path) { return run_file(path, 0); }

Status PenctlServer::run_file(const std::string& path, int depth) {
  std::vector<FileLine> lines;
  if (Status st = read_file_lines(path, depth, &lines); !st.ok()) return st;
  return run_lines(lines);
}

Status PenctlServer::run_commands(const std::vector<std::string>& lines) {
  std::vector<FileLine> named;
  for (const std::string& line : lines) named.push_back({.file = "-o '" + line + "'", .number = 0, .text = line});
  return run_lines(named);
}

Status PenctlServer::run_lines(const std::vector<FileLine>& lines) {
  // "FILE:LINE" for a file's line, "-o 'acl ...'" for the command line's.
  auto where = [](const FileLine& l) { return l.number == 0 ? l.file : l.file + ":" + std::to_string(l.number); };
  for (const FileLine& l : lines) {
    if (PenctlReply r = dispatch(l.text, /*check=*/true); r.failed) {
      return Status::invalid(where(l) + ": " + reply_error(r));
    }
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    if (PenctlReply r = dispatch(lines[i].text, /*check=*/false); r.failed) {
      return Status(StatusCode::kFailedPrecondition,
                    where(lines[i]) + ": " + reply_error(r) +
                        " (it passed the check; the " + std::to_string(i) + " line(s) before it are applied)");
    }
  }
  return {};
}

// Pen's default that nib always has (no traffic dumps).
// Pen's `write` lists it, so the line stating the default is accepted and a
// written file replays; asking for anything else is not supported.
PenctlReply PenctlServer::cmd_in_force(const Command& c) {
  std::string line;
  for (const std::string& word : c.w) line += (line.empty() ? "" : " ") + word;
  if (line == "no ascii") return {};
  return fail(command_key(c.w) + ": takes no argument");
}

// Pen's "web_stats" prints the status file, "web_stats FILE" sets it (the
// next SIGUSR1 writes there), "no web_stats" stops writing one. A FILE whose
// directory nib cannot write in is refused now rather than at every SIGUSR1.
PenctlReply PenctlServer::cmd_web_stats(const Command& c) {
  const bool negate = c.w[0] == "no";
  if (c.w.size() > 2 || (negate && c.w.size() != 2)) return fail(command_key(c.w) + ": expected 'web_stats [FILE]'");
  StatusFileSetting* setting = options_.status_file;
  if (!negate && c.w.size() == 1) return ok(setting != nullptr && !setting->get().empty() ? setting->get() + "\n" : "");
  if (negate) {
    if (setting != nullptr && !c.check) setting->set({});
    return {};
  }
  if (setting == nullptr) return unsupported(command_key(c.w), "not available here: this nib writes no status page");
  const std::string& path = c.w[1];
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  if (path.back() == '/') return fail("web_stats: cannot write " + path + ": a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int err = errno;
    return fail("web_stats: cannot write in " + dir + ": " + std::strerror(err));
  }
  if (c.check) return {};
  setting->set(path);
  log_info("control port: the status page goes to " + path + " on SIGUSR1");
  return {};
}

// Lines of a file expand their includes as they are read (read_file_lines);
// this is `include` sent to the control port.
PenctlReply PenctlServer::cmd_include(const Command& c) {
  if (c.w.size() != 2) return fail("include: expected 'include FILE'");
  if (c.check) return {};
  if (Status st = run_file(c.w[1], 1); !st.ok()) return fail("include: " + st.message());
  return {};
}

PenctlReply PenctlServer::cmd_nothing(const Command&) { return {}; }

PenctlReply PenctlServer::cmd_pid(const Command& c) {
  if (c.w.size() != 1) return fail("pid: takes no argument");
  return ok(std::to_string(::getpid()) + "\n");
}

PenctlReply PenctlServer::cmd_control(const Command& c) {
  if (c.w.size() != 1) return fail("control: takes no argument");
  return ok(control_text_ + "\n");
}

// Pen's listen: alone it prints where the service listens; `listen
// [addr:]port` moves the listener there (the address defaults to the one in
// use), its open connections going on.
PenctlReply PenctlServer::cmd_listen(const Command& c) {
  if (c.w.size() > 2) return fail("listen: expected 'listen [[address]:port]'");
  auto bound = dataplane_.bound_address(c.service);
  if (!bound) return fail("listen: the service is not listening");
  // A Unix socket path service: printed as such, and not moved at runtime.
  if (auto st = dataplane_.service(c.service); st.ok() && !st->listen_path.empty()) {
    if (c.w.size() == 1) return ok(st->listen_path + "\n");
    return fail("listen: the service listens on the Unix socket " + st->listen_path + "; restart nib to change it");
  }
  if (c.w.size() == 1) return ok(bound->to_string() + "\n");
  HostPort hp;
  uint16_t port = 0;
  const bool shaped = split_host_port(c.w[1], &hp) && !hp.port.empty() &&
                      std::from_chars(hp.port.data(), hp.port.data() + hp.port.size(), port).ec == std::errc() &&
                      std::to_string(port) == hp.port;
  auto address = shaped ? SocketAddress::from_ip(hp.host.empty() ? bound->ip_string() : hp.host, port)
                        : Result<SocketAddress>(Status::invalid(""));
  if (!address.ok()) return fail("listen: expected '[address:]port' with an IP address and a port 0-65535, got '" + c.w[1] + "'");
  if (c.check) return {};
  if (Status st = api_.set_listen(c.service, *address); !st.ok()) return fail(st);
  auto now = dataplane_.bound_address(c.service);
  return ok((now ? now->to_string() : address->to_string()) + "\n");
}

PenctlReply PenctlServer::cmd_servers(const Command& c) {
  if (c.w.size() != 1) return fail("servers: takes no argument");
  auto st = dataplane_.service(c.service);
  if (!st.ok()) return fail(st.status());
  std::ostringstream o;
  for (const auto& b : st->backends) {
    o << b.index << " addr " << b.address.ip_string() << " port " << b.address.port() << " conn " << b.active
      << " max " << b.soft_limit << " hard " << b.hard_limit << " weight " << b.weight << " prio " << b.prio
      << " sx " << b.counters.bytes_in << " rx " << b.counters.bytes_out << "\n";
  }
  return ok(o.str());
}

// The pairs of one `server N KEY VALUE ...` line, parsed and range-checked.
struct PenctlServer::ServerLine {
  std::optional<std::string> address, port;  // as written: compared or resolved later
  std::optional<uint32_t> weight, prio, soft_limit, hard_limit, blacklist;
  std::optional<size_t> acl;  // Pen's per-server ACL: a list number 0-9
  std::optional<v1::ProxyProtocol> proxy_protocol;  // nib's own key: the server's PROXY header
  std::optional<bool> tcp_fast_open;                // nib's own key: on or off
};

Result<PenctlServer::ServerLine> PenctlServer::parse_server_line(const std::vector<std::string>& w) {
  ServerLine line;
  for (size_t i = 2; i < w.size(); i += 2) {
    const std::string& key = w[i];
    const std::string& value = w[i + 1];
    if (key == "address") {
      line.address = value;
      continue;
    }
    if (key == "port") {
      line.port = value;
      continue;
    }
    if (key == "proxy_protocol") {
      auto version = value == "service" ? std::optional(v1::PROXY_PROTOCOL_SERVICE) : std::nullopt;
      if (auto word = parse_proxy_protocol(value)) version = to_proto(*word);
      if (!version) return Status::invalid("proxy_protocol: expected v1, v2, off or service, got '" + value + "'");
      line.proxy_protocol = *version;
      continue;
    }
    if (key == "tcp_fast_open") {
      if (value != "on" && value != "off") {
        return Status::invalid("tcp_fast_open: expected on or off, got '" + value + "'");
      }
      line.tcp_fast_open = value == "on";
      continue;
    }
    if (key == "acl") {
      auto n = parse_uint(value);
      if (!n || *n >= kAccessLists) return Status::invalid("acl: expected a list number 0-9, got '" + value + "'");
      line.acl = static_cast<size_t>(*n);
      continue;
    }
    std::optional<uint32_t>* slot = key == "weight"      ? &line.weight
                                    : key == "prio"      ? &line.prio
                                    : key == "max"       ? &line.soft_limit
                                    : key == "hard"      ? &line.hard_limit
                                    : key == "blacklist" ? &line.blacklist
                                                         : nullptr;
    if (slot == nullptr) {
      return Status::invalid("server: unknown setting '" + key +
                             "'; expected acl, address, port, max, hard, blacklist, weight, prio, proxy_protocol or "
                             "tcp_fast_open");
    }
    auto v = parse_uint(value);
    if (!v || *v > UINT32_MAX) return Status::invalid(key + ": expected a non-negative integer");
    *slot = static_cast<uint32_t>(*v);
  }
  return line;
}

Result<uint32_t> PenctlServer::parse_port(const std::string& text) {
  auto p = parse_uint(text);
  if (!p || *p < 1 || *p > 65535) return Status::invalid("port: expected 1-65535, got '" + text + "'");
  return static_cast<uint32_t>(*p);
}

// Pen's `server N ...`: settings of server N, or, with the next free N and
// an address, a new server (Pen's way to add one; the port defaults to the
// listen port, as for -e). A file checked before it applies may add several
// in a row, so the check accepts any N past the last.
PenctlReply PenctlServer::cmd_server(const Command& c) {
  const auto& w = c.w;
  if (w.size() < 4 || w.size() % 2 != 0) {
    return fail("server: expected 'server N address|port|weight|prio|max|hard|blacklist|proxy_protocol|"
                "tcp_fast_open VALUE ...'");
  }
  auto index = parse_uint(w[1]);
  if (!index) return fail("server: expected a server number, got '" + w[1] + "'");
  auto st = dataplane_.service(c.service);
  if (!st.ok()) return fail(st.status());
  auto line = parse_server_line(w);
  if (!line.ok()) return fail(line.status());
  const BackendStatus* target = nullptr;
  size_t servers = 0;
  for (const auto& b : st->backends) {
    if (b.index < 0) continue;
    ++servers;
    if (static_cast<uint64_t>(b.index) == *index) target = &b;
  }
  if (target == nullptr) return add_server(c, *index, servers, *line, st->listen.port());
  std::optional<uint32_t> port;
  if (line->port) {
    auto p = parse_port(*line->port);
    if (!p.ok()) return fail(p.status());
    port = *p;
  }
  if (c.check) return {};
  v1::UpdateBackendRequest patch;
  if (line->weight) patch.set_weight(*line->weight);
  if (line->prio) patch.set_prio(*line->prio);
  if (line->soft_limit) patch.set_soft_limit(*line->soft_limit);
  if (line->hard_limit) patch.set_hard_limit(*line->hard_limit);
  // What the server has already (a replayed `write` file) is no change.
  if (line->address && *line->address != target->address.ip_string() && *line->address != target->host) {
    patch.set_address(*line->address);
  }
  if (port && *port != target->address.port()) patch.set_port(*port);
  if (line->proxy_protocol && *line->proxy_protocol != to_proto(target->proxy_protocol)) {
    patch.set_proxy_protocol(*line->proxy_protocol);
  }
  if (line->tcp_fast_open && *line->tcp_fast_open != target->tcp_fast_open) {
    patch.set_tcp_fast_open(*line->tcp_fast_open);
  }
  if (patch.has_weight() || patch.has_prio() || patch.has_soft_limit() || patch.has_hard_limit() ||
      patch.has_address() || patch.has_port() || patch.has_proxy_protocol() || patch.has_tcp_fast_open()) {
    patch.set_service(c.service);
    patch.set_id(target->id);
    if (auto updated = api_.update_backend(patch); !updated.ok()) return fail(updated.status());
  }
  if (line->blacklist) {
    if (Status s = api_.blacklist_backend(c.service, target->id, *line->blacklist); !s.ok()) return fail(s);
  }
  if (line->acl) return set_server_acl(c.service, target->id, *line->acl);
  return {};
}

PenctlReply PenctlServer::set_server_acl(const std::string& service, uint32_t id, size_t list) {
  std::unique_lock lock(acl_mu_);
  server_acls_[{service, id}] = list;
  const AccessList acl = acls_[list];
  lock.unlock();  // the Dataplane takes its own locks
  if (Status st = api_.set_server_acl(service, id, acl); !st.ok()) return fail(st);
  return {};
}

PenctlReply PenctlServer::add_server(const Command& c, uint64_t index, size_t servers, const ServerLine& line,
                                     uint16_t listen_port) {
  const std::string n = std::to_string(index);
  if (!line.address) return fail("no server " + n);
  if (index != servers && !(c.check && index > servers)) {
    return fail("no server " + n + "; the next new server is " + std::to_string(servers));
  }
  uint32_t port = listen_port;
  if (line.port) {
    auto p = parse_port(*line.port);
    if (!p.ok()) return fail(p.status());
    port = *p;
  }
  if (c.check) return {};
  v1::AddBackendRequest r;
  r.set_service(c.service);
  r.set_address(*line.address);
  r.set_port(port);
  if (line.weight) r.set_weight(*line.weight);
  if (line.prio) r.set_prio(*line.prio);
  if (line.soft_limit) r.set_soft_limit(*line.soft_limit);
  if (line.hard_limit) r.set_hard_limit(*line.hard_limit);
  if (line.proxy_protocol) r.set_proxy_protocol(*line.proxy_protocol);
  r.set_tcp_fast_open(line.tcp_fast_open.value_or(false));
  auto added = api_.add_backend(r);
  if (!added.ok()) return fail(added.status());
  if (line.blacklist) {
    if (Status s = api_.blacklist_backend(c.service, added->id, *line.blacklist); !s.ok()) return fail(s);
  }
  if (line.acl) return set_server_acl(c.service, added->id, *line.acl);
  return {};
}

PenctlReply PenctlServer::cmd_status(const Command& c) {
  if (c.w.size() != 1) return fail("status: takes no argument");
  PenStatusInput in;
  in.services = dataplane_.status();
  for (const auto& s : in.services) in.clients.push_back(dataplane_.clients(s.name));
  in.connections = dataplane_.connections();
  in.now = MonoClock::now();
  std::time_t t = std::time(nullptr);
  char text[64];
  std::tm tm{};
  ::localtime_r(&t, &tm);
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  in.generated_at = text;
  return ok(render_pen_status_page(in));
}

// Pen's "connection N": one line about open connection N, numbered as the
// status page numbers them.
PenctlReply PenctlServer::cmd_connection(const Command& c) {
  auto id = c.w.size() == 2 ? parse_uint(c.w[1]) : std::nullopt;
  if (!id) return fail("connection: expected 'connection N' with N a connection number from the status page");
  const std::optional<ConnectionInfo> conn = dataplane_.connection(*id);
  if (!conn) return fail("connection: no open connection " + c.w[1]);
  std::ostringstream o;
  o << "connection " << conn->id << " service " << conn->service << " client " << conn->client.to_string()
    << " server " << (conn->backend.valid() ? conn->backend.to_string() : "-") << " state "
    << (conn->connecting ? "connecting" : "open") << " age " << static_cast<uint64_t>(conn->age_seconds)
    << " sx " << conn->bytes_in << " rx " << conn->bytes_out << "\n";
  return ok(o.str());
}

// Pen's "close N": closes open connection N (both sides), as an operator's
// decision: logged, and its access-log line says so.
PenctlReply PenctlServer::cmd_close(const Command& c) {
  auto id = c.w.size() == 2 ? parse_uint(c.w[1]) : std::nullopt;
  if (!id) return fail("close: expected 'close N' with N a connection number from the status page");
  if (c.check) return {};
  if (Status st = api_.close_connection(*id); !st.ok()) return fail("close: " + st.message());
  return {};
}

PenctlReply PenctlServer::cmd_recent(const Command& c) {
  if (c.w.size() > 2) return fail("recent: expected 'recent [SECONDS]'");
  double window = 300;  // Pen's default
  if (c.w.size() == 2) {
    auto v = parse_uint(c.w[1]);
    if (!v || !kWholeSeconds.contains_unsigned(*v)) {
      return fail("recent: expected seconds, " + describe(kWholeSeconds) + ", got '" + c.w[1] + "'");
    }
    window = static_cast<double>(*v);
  }
  MonoTime now = MonoClock::now();
  std::ostringstream o;
  for (const auto& client : dataplane_.clients(c.service)) {
    if (now - client.last_seen > seconds_to_duration(window)) continue;
    o << client.client.to_string() << " connects " << client.connects << " sx " << client.bytes_in << " rx "
      << client.bytes_out << "\n";
  }
  return ok(o.str());
}

PenModeFlags PenctlServer::current_flags(BalanceMode mode) {
  std::lock_guard lock(flags_mu_);
  if (flags_.mode() != mode) flags_ = PenModeFlags::from(mode);
  return flags_;
}

PenctlReply PenctlServer::cmd_log(const Command& c) {
  // Pen's "log" prints the log file, "log FILE" logs there, "no log" stops.
  if (c.w[0] == "no") {
    if (c.w.size() != 2) return fail("no log: takes no argument");
    if (c.check) return {};
    if (Status st = api_.set_access_log_file(std::nullopt); !st.ok()) return fail(st);
    return ok("");
  }
  if (c.w.size() == 1) {
    AccessLogStatus log = dataplane_.access_log();
    return ok(log.enabled ? log.destination + "\n" : "");
  }
  if (c.w.size() != 2) return fail("log: expected one file name");
  if (c.check || !options_.write_files) return {};
  if (Status st = api_.set_access_log_file(c.w[1]); !st.ok()) return fail(st);
  return ok("");
}

PenctlReply PenctlServer::cmd_mode(const Command& c) {
  if (c.w.size() != 1) return fail("mode: takes no argument");
  auto policy = dataplane_.policy(c.service);
  if (!policy.ok()) return fail(policy.status());
  return ok(current_flags(policy->mode).describe(policy->stubborn) + "\n");
}

// Pen's flags: "hash" while weighting keeps weighting (prio > weight > hash >
// roundrobin), and "no weight" then hashes.
PenctlReply PenctlServer::cmd_flag(const Command& c) {
  const bool negate = c.w[0] == "no";
  const std::string& word = negate ? c.w[1] : c.w[0];
  if (c.w.size() != (negate ? 2u : 1u)) return fail(c.w[0] + (negate ? " " + word : "") + ": takes no argument");
  if (c.check) return {};
  // The flags combine with the current mode under the service's admin lock.
  auto applied = api_.edit_policy(c.service, [&](PolicyConfig& p) {
    PenModeFlags flags = current_flags(p.mode);
    flags.set(word, !negate);
    p.mode = flags.mode();
    std::lock_guard lock(flags_mu_);
    flags_ = flags;
    return Status();
  });
  if (!applied.ok()) return fail(applied.status());
  return {};
}

PenctlReply PenctlServer::cmd_stubborn(const Command& c) {
  const bool negate = c.w[0] == "no";
  if (c.w.size() != (negate ? 2u : 1u)) return fail("stubborn: takes no argument");
  if (c.check) return {};
  v1::SetPolicyRequest r;
  r.set_service(c.service);
  r.set_stubborn(!negate);
  if (auto applied = api_.set_policy(r); !applied.ok()) return fail(applied.status());
  return {};
}

namespace {

// Pen's valued settings: the word alone prints the value, with a whole
// number it sets it and prints the new value. All are policy fields, set
// through the admin core.
struct ValuedSetting {
  std::string_view word;
  IntRange range;
  void (*set)(v1::SetPolicyRequest& r, uint64_t v);
  double (*get)(const PolicyConfig& p);
  std::string_view reply_prefix, reply_suffix;  // Pen's words around the value
};

constexpr IntRange kConnectSeconds{1, static_cast<int64_t>(limits::kConnectTimeout.max)};

constexpr ValuedSetting kValued[] = {
    {"blacklist", kWholeSeconds, [](v1::SetPolicyRequest& r, uint64_t v) { r.set_blacklist_seconds(double(v)); },
     [](const PolicyConfig& p) { return p.blacklist_seconds; }, "", ""},
    {"clients_max", limits::kTableSize, [](v1::SetPolicyRequest& r, uint64_t v) { r.set_table_size(v); },
     [](const PolicyConfig& p) { return double(p.table_size); }, "", ""},
    {"conn_max", limits::kMaxConnections,
     [](v1::SetPolicyRequest& r, uint64_t v) { r.set_max_connections(static_cast<uint32_t>(v)); },
     [](const PolicyConfig& p) { return double(p.max_connections); }, "", ""},
    {"idle_timeout", kWholeSeconds, [](v1::SetPolicyRequest& r, uint64_t v) { r.set_idle_timeout_seconds(double(v)); },
     [](const PolicyConfig& p) { return p.idle_timeout_seconds; }, "Idle timeout: ", " seconds"},
    {"idlers", limits::kIdlers, [](v1::SetPolicyRequest& r, uint64_t v) { r.set_idlers(static_cast<uint32_t>(v)); },
     [](const PolicyConfig& p) { return double(p.idlers); }, "", ""},
    {"pending_max", limits::kPendingMax,
     [](v1::SetPolicyRequest& r, uint64_t v) { r.set_pending_max(static_cast<uint32_t>(v)); },
     [](const PolicyConfig& p) { return double(p.pending_max); }, "", ""},
    {"timeout", kConnectSeconds,
     [](v1::SetPolicyRequest& r, uint64_t v) { r.set_connect_timeout_seconds(double(v)); },
     [](const PolicyConfig& p) { return p.connect_timeout_seconds; }, "", ""},
    {"tracking", kWholeSeconds, [](v1::SetPolicyRequest& r, uint64_t v) { r.set_tracking_seconds(double(v)); },
     [](const PolicyConfig& p) { return p.tracking_seconds; }, "", ""},
};

// Pen's debug levels: 0 info, 1 debug, 2 and more trace (log.h).
constexpr IntRange kDebugLevels{0, 9};

}  // namespace

PenctlReply PenctlServer::cmd_valued(const Command& c) {
  const std::string& cmd = c.w[0];
  const ValuedSetting* setting = nullptr;
  for (const ValuedSetting& v : kValued) {
    if (v.word == cmd) setting = &v;
  }
  if (setting == nullptr) return fail(cmd + ": not a valued setting");
  if (c.w.size() > 2) return fail(cmd + ": expected '" + cmd + " [N]'");
  Result<PolicyConfig> policy = Status();
  if (c.w.size() == 2) {
    auto v = parse_uint(c.w[1]);
    if (!v || !setting->range.contains_unsigned(*v)) {
      return fail(cmd + ": expected " + describe(setting->range) + ", got '" + c.w[1] + "'");
    }
    if (c.check) return {};
    v1::SetPolicyRequest r;
    r.set_service(c.service);
    setting->set(r, *v);
    policy = api_.set_policy(r);
  } else {
    v1::GetPolicyRequest r;
    r.set_service(c.service);
    policy = api_.get_policy(r);
  }
  if (!policy.ok()) return fail(policy.status());
  if (cmd == "idlers") {  // Pen's "Idlers: open/wanted"
    auto st = dataplane_.service(c.service);
    if (!st.ok()) return fail(st.status());
    return ok("Idlers: " + std::to_string(st->idlers_open) + "/" + std::to_string(policy->idlers) + "\n");
  }
  return ok(std::string(setting->reply_prefix) + seconds_text(setting->get(*policy)) +
            std::string(setting->reply_suffix) + "\n");
}

// Pen's ssl_* words on a TLS service: alone, the value in force; with an
// argument, a change through the admin core (files read and checked first, a
// bad one changes nothing, saved with --state), as PUT .../tls.
PenctlReply PenctlServer::cmd_ssl(const Command& c) {
  const std::string& cmd = c.w[0];
  v1::GetTlsRequest get;
  get.set_service(c.service);
  auto now = api_.get_tls(get);
  if (!now.ok()) return fail(cmd + ": " + now.status().message());
  if (c.w.size() == 1) return ok(pen_ssl_value(cmd, now->settings).value_or("") + "\n");
  TlsConfig edited = now->settings;
  auto word = apply_pen_ssl_word(c.w, edited);
  if (!word) return fail(cmd + ": not an ssl word");
  if (!word->status.ok()) return fail(cmd + ": " + word->status.message());
  if (!word->note.empty()) {
    log_warn("control port: " + cmd + ": " + word->note);
    return {};
  }
  if (c.check) return {};
  // Only what the word changes, so a concurrent change to another field stays.
  v1::SetTlsRequest r;
  r.set_service(c.service);
  if (edited.ciphers != now->settings.ciphers) r.set_ciphers(edited.ciphers);
  if (edited.sni_path != now->settings.sni_path) r.set_sni_path(edited.sni_path);
  if (edited.ocsp_response_file != now->settings.ocsp_response_file) {
    r.set_ocsp_response_file(edited.ocsp_response_file);
  }
  if (edited.min_version != now->settings.min_version) r.set_min_version(edited.min_version);
  if (edited.prefer_server_ciphers != now->settings.prefer_server_ciphers) {
    r.set_prefer_server_ciphers(edited.prefer_server_ciphers);
  }
  auto changed = api_.set_tls(r);
  if (!changed.ok()) return fail(cmd + ": " + changed.status().message());
  return {};
}

PenctlReply PenctlServer::cmd_debug(const Command& c) {
  if (c.w.size() > 2) return fail("debug: expected 'debug [N]'");
  if (c.w.size() == 2) {
    auto v = parse_uint(c.w[1]);
    if (!v || !kDebugLevels.contains_unsigned(*v)) {
      return fail("debug: expected " + describe(kDebugLevels) + ", got '" + c.w[1] + "'");
    }
    if (c.check) return {};
    if (Status st = api_.set_log_level(log_level_for_verbosity(static_cast<int>(*v))); !st.ok()) return fail(st);
  }
  return ok(std::to_string(verbosity_of(AdminApi::log_level())) + "\n");
}

// Pen's abort_on_error: from now on a fatal error (nib exiting with a
// failure) calls abort(), for a core file.
PenctlReply PenctlServer::cmd_abort_on_error(const Command& c) {
  const bool on = c.w[0] != "no";
  if (c.w.size() != (on ? 1u : 2u)) return fail(std::string(on ? "" : "no ") + "abort_on_error: takes no argument");
  if (!c.check) Log::set_abort_on_fatal(on);
  return {};
}

// Pen quits without a reply; penctl then exits 0.
PenctlReply PenctlServer::cmd_exit(const Command& c) {
  if (c.w.size() != 1) return fail("exit: takes no argument");
  if (!options_.exit) return fail("exit: not enabled; restart nib with -X");
  if (c.check) return {};
  log_info("control port: exit");
  options_.exit();
  return {};
}

namespace {

// "accept_proxy_protocol 10.0.0.0/8 ::1/128" as -o takes it; "" for none.
std::string accept_proxy_line(const std::vector<IpPrefix>& trusted) {
  if (trusted.empty()) return {};
  std::string line = "accept_proxy_protocol";
  for (const auto& p : trusted) line += " " + p.to_string();
  return line;
}

}  // namespace

// tcp_nodelay, keepalive, tcp_fastclose, source, transparent, dsr_if, dummy and the PROXY protocol are fixed when the
// service's sockets are set up (nib keeps them out of the hot path's shared
// state): asking for what is in force is fine, a change is not.
// `tcp_fastclose`, `source`, `dsr_if`, `proxy_protocol` and `accept_proxy_protocol`
// alone print the setting in force.
PenctlReply PenctlServer::cmd_socket_option(const Command& c) {
  const bool negate = c.w[0] == "no";
  const std::string& word = c.w[negate ? 1 : 0];
  auto st = dataplane_.service(c.service);
  if (!st.ok()) return fail(st.status());
  std::string wanted, current;  // each as -o takes it
  if (word == "source") {
    if (c.w.size() > 2) return fail("source: expected 'source [IP]'");
    current = st->source ? "source " + st->source->ip_string() : "no source";
    if (c.w.size() == 1) return ok(st->source ? st->source->ip_string() + "\n" : std::string());
    auto ip = SocketAddress::from_ip(c.w[1], 0);
    if (!ip.ok()) return fail("source: expected an IPv4 or IPv6 address, got '" + c.w[1] + "'");
    wanted = "source " + ip->ip_string();
  } else if (word == "dsr_if") {
    if (c.w.size() > 2) return fail("dsr_if: expected 'dsr_if [IF]'");
    current = st->dsr_interface.empty() ? "no dsr_if" : "dsr_if " + st->dsr_interface;
    if (c.w.size() == 1) return ok(st->dsr_interface.empty() ? std::string() : st->dsr_interface + "\n");
    wanted = "dsr_if " + c.w[1];
  } else if (word == "proxy_protocol") {
    current = std::string("proxy_protocol ") + to_string(st->proxy_protocol);
    if (c.w.size() == 1) return ok(std::string(to_string(st->proxy_protocol)) + "\n");
    if (c.w.size() != 2 || !parse_proxy_protocol(c.w[1])) return fail("proxy_protocol: expected 'proxy_protocol v1|v2|off'");
    wanted = "proxy_protocol " + c.w[1];
  } else if (word == "accept_proxy_protocol") {
    current = accept_proxy_line(st->accept_proxy_from);
    if (c.w.size() == 1) return ok(current.empty() ? std::string() : current.substr(word.size() + 1) + "\n");
    std::vector<IpPrefix> prefixes;
    for (size_t i = 1; i < c.w.size(); ++i) {
      auto prefix = IpPrefix::parse(c.w[i]);
      if (!prefix.ok()) return fail("accept_proxy_protocol: " + prefix.status().message());
      prefixes.push_back(*prefix);
    }
    wanted = accept_proxy_line(prefixes);
  } else if (word == "tcp_fastclose") {
    current = std::string("tcp_fastclose ") + to_string(st->tcp_fastclose);
    if (c.w.size() == 1) return ok(std::string(to_string(st->tcp_fastclose)) + "\n");
    if (c.w.size() != 2 || !parse_fast_close(c.w[1])) return fail("tcp_fastclose: expected 'tcp_fastclose up|down|both|off'");
    wanted = "tcp_fastclose " + c.w[1];
  } else {
    if (c.w.size() != (negate ? 2u : 1u)) return fail(word + ": takes no argument");
    // The on/off words this handler is registered for, and what each reads.
    static constexpr std::pair<std::string_view, bool ServiceStatus::*> kSwitches[] = {
        {"tcp_nodelay", &ServiceStatus::tcp_nodelay},
        {"keepalive", &ServiceStatus::keepalive},
        {"http", &ServiceStatus::http},
        {"transparent", &ServiceStatus::transparent},
        {"dummy", &ServiceStatus::dummy},
    };
    const auto sw =
        std::find_if(std::begin(kSwitches), std::end(kSwitches), [&](const auto& e) { return e.first == word; });
    const bool on = sw != std::end(kSwitches) && (*st).*(sw->second);
    wanted = (negate ? "no " : "") + word;
    current = (on ? "" : "no ") + word;
  }
  if (wanted == current) return {};
  return fail(wanted + ": cannot change at runtime: it is fixed when the service's listener and connections are "
                       "set up; restart nib with -o '" + wanted + "'");
}

PenctlReply PenctlServer::cmd_write(const Command& c) {
  if (c.w.size() > 2) return fail("write: expected 'write [FILE]'");
  const std::string path = c.w.size() == 2 ? c.w[1] : options_.config_file;
  if (path.empty()) return fail("write: no file: nib was started without -F; give one: 'write FILE'");
  if (c.check) return {};
  auto text = running_config(c.service, path);
  if (!text.ok()) return fail(text.status());
  if (!options_.write_files) return {};
  if (Status st = write_file_atomically(path, *text, 0644); !st.ok()) return fail("write: " + st.message());
  return {};
}

namespace {

// Pen's acl lines: IPv4 with a dotted mask, IPv6 with a length.
std::string pen_acl_line(size_t list, const AccessEntry& e) {
  std::string text = e.to_string();  // "permit 10.0.0.0/8", "deny 10.0.0.0 255.0.255.0"
  if (e.address.is_v4()) {
    char mask[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &e.mask.bytes[12], mask, sizeof mask);
    text = std::string(e.permit ? "permit " : "deny ") + e.address.to_string() + " " + mask;
  }
  return "acl " + std::to_string(list) + " " + text + "\n";
}

}  // namespace

// Pen's write: the same lines in the same order, so the file replays line by
// line to a control port (or is read with Pen's -F). Two lines Pen leaves
// out follow its own words: conn_max and idle_timeout (Pen keeps -x only in
// the comment line, and no idle timeout at all). A server line has no `acl`
// pair: nib has no per-server ACL.
Result<std::string> PenctlServer::running_config(const std::string& service, const std::string& path) {
  auto st = dataplane_.service(service);
  if (!st.ok()) return st.status();
  const PolicyConfig& p = st->policy;
  PenModeFlags flags = current_flags(p.mode);
  std::ostringstream o;
  std::time_t t = std::time(nullptr);
  char when[64];
  std::tm tm{};
  ::localtime_r(&t, &tm);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  o << "# Generated by nib " << when << "\n";
  o << "# pen";
  if (st->protocol == Protocol::kUdp) o << " -U";
  if (options_.exit) o << " -X";
  if (p.table_size != PolicyConfig{}.table_size) o << " -c " << p.table_size;
  if (st->emergency) o << " -e " << st->emergency->address.to_string();
  if (p.max_connections != 0) o << " -x " << p.max_connections;
  o << " -F '" << path << "' -C " << control_text_ << " " << st->listen_text() << "\n";
  sync_client_list(service);
  {
    std::lock_guard lock(acl_mu_);
    for (size_t i = 0; i < kAccessLists; ++i) {
      if (acls_[i].empty()) continue;
      o << "no acl " << i << "\n";
      for (const AccessEntry& e : acls_[i].entries()) o << pen_acl_line(i, e);
    }
    o << "no ascii\n";
    o << "blacklist " << seconds_text(p.blacklist_seconds) << "\n";
    o << "client_acl " << client_acl_ << "\n";
    o << "control_acl " << control_acl_ << "\n";
    if (tarpit_acl_) o << "tarpit_acl " << *tarpit_acl_ << "\n";
  }
  o << "conn_max " << p.max_connections << "\n";
  o << "debug " << verbosity_of(AdminApi::log_level()) << "\n";
  if (Log::abort_on_fatal()) o << "abort_on_error\n";
  o << (flags.has("hash") ? "" : "no ") << "hash\n";
  o << (st->http ? "" : "no ") << "http\n";
  o << "idle_timeout " << seconds_text(p.idle_timeout_seconds) << "\n";
  // A file log is restored by `log FILE`; a UDP one only by -l at start.
  if (AccessLogStatus log = dataplane_.access_log(); log.enabled && !log.destination.starts_with("udp:")) {
    o << "log " << log.destination << "\n";
  } else {
    o << "no log\n";
  }
  if (p.idlers != 0) o << "idlers " << p.idlers << "\n";
  if (p.pending_max != 0) o << "pending_max " << p.pending_max << "\n";
  o << (flags.has("roundrobin") ? "" : "no ") << "roundrobin\n";
  std::map<uint32_t, size_t> server_acl;
  {
    std::lock_guard lock(acl_mu_);
    for (const auto& [key, list] : server_acls_) {
      if (key.first == service) server_acl[key.second] = list;
    }
  }
  for (const auto& b : st->backends) {
    o << "server " << b.index;
    if (auto it = server_acl.find(b.id); it != server_acl.end()) o << " acl " << it->second;
    o << " address " << b.address.ip_string() << " port " << b.address.port() << " max "
      << b.soft_limit << " hard " << b.hard_limit;
    if (flags.has("weight")) o << " weight " << b.weight;
    if (flags.has("prio")) o << " prio " << b.prio;
    if (b.proxy_protocol) o << " proxy_protocol " << to_string(*b.proxy_protocol);
    if (b.tcp_fast_open) o << " tcp_fast_open on";
    o << "\n";
  }
  if (st->source) o << "source " << st->source->ip_string() << "\n";
  if (st->transparent) o << "transparent\n";
  if (st->dummy) o << "dummy\n";
  if (!st->dsr_interface.empty()) o << "dsr_if " << st->dsr_interface << "\n";
  // nib's own words, only when set: a file for Pen stays Pen's.
  if (st->proxy_protocol != ProxyProtocol::kOff) o << "proxy_protocol " << to_string(st->proxy_protocol) << "\n";
  if (!st->accept_proxy_from.empty()) o << accept_proxy_line(st->accept_proxy_from) << "\n";
  o << (p.stubborn ? "" : "no ") << "stubborn\n";
  o << "tcp_fastclose " << to_string(st->tcp_fastclose) << "\n";
  o << (st->tcp_nodelay ? "" : "no ") << "tcp_nodelay\n";
  o << "timeout " << seconds_text(p.connect_timeout_seconds) << "\n";
  o << "tracking " << seconds_text(p.tracking_seconds) << "\n";
  const std::string status_file = options_.status_file != nullptr ? options_.status_file->get() : "";
  o << (status_file.empty() ? "no web_stats" : "web_stats " + status_file) << "\n";
  o << (flags.has("weight") ? "" : "no ") << "weight\n";
  o << (flags.has("prio") ? "" : "no ") << "prio\n";
  return o.str();
}

bool PenctlServer::control_permits(const SocketAddress& peer) const {
  // A Unix socket's peers have no address to check: its file mode (0600)
  // decides who may connect.
  if (peer.family() == AF_UNIX) return true;
  std::lock_guard lock(acl_mu_);
  return acls_[control_acl_].permits(peer, dataplane_.countries());
}

namespace {

// "acl N ...", "no acl N", "client_acl [N]", "control_acl [N]": the list
// number at `at`, 0-9.
std::optional<size_t> list_number(const std::vector<std::string>& w, size_t at) {
  if (w.size() <= at) return std::nullopt;
  auto n = parse_uint(w[at]);
  if (!n || *n >= 10) return std::nullopt;
  return static_cast<size_t>(*n);
}

// The entry of "acl N permit|deny WHAT [MORE]": "country CC", an IPv4
// address and mask, or an IPv6 address and length.
Result<AccessEntry> pen_acl_entry(bool permit, const std::string& what, const std::string& more) {
  if (what != "country") return AccessEntry::parse_pen(permit, what, more);
  if (more.empty()) return Status::invalid("expected a country code after 'country', such as SE");
  return AccessEntry::from_country(permit, more);
}

std::string list_error(const std::string& name, const std::vector<std::string>& w, size_t at) {
  if (w.size() <= at) return name + ": expected a list number 0-9";
  return name + ": expected a list number 0-9, got '" + w[at] + "'";
}

}  // namespace

PenctlReply PenctlServer::cmd_acl(const Command& c) {
  const auto& w = c.w;
  auto list = list_number(w, 1);
  if (!list) return fail(list_error("acl", w, 1));
  if (w.size() < 4 || w.size() > 5 || (w[2] != "permit" && w[2] != "deny")) {
    return fail("acl: expected 'acl N permit|deny ipv4 [mask]', 'acl N permit|deny ipv6[/length]' or "
                "'acl N permit|deny country CC'");
  }
  auto entry = pen_acl_entry(w[2] == "permit", w[3], w.size() == 5 ? w[4] : std::string());
  if (!entry.ok()) return fail("acl: " + entry.status().message());
  // Any list may become the client or the control list: a country entry is
  // checked now, while the command can still fail and change nothing.
  if (Status st = dataplane_.prepare_acl(AccessList({*entry})); !st.ok()) return fail("acl: " + st.message());
  if (c.check) return {};
  sync_client_list(c.service);
  std::unique_lock lock(acl_mu_);
  acls_[*list].add(*entry);
  return push_changed_list(std::move(lock), c.service, *list);
}

void PenctlServer::sync_client_list(const std::string& service) {
  auto live = dataplane_.client_acl(service);  // outside acl_mu_: the Dataplane takes its own locks
  if (!live.ok()) return;
  std::lock_guard lock(acl_mu_);
  acls_[client_acl_] = std::move(*live);
}

PenctlReply PenctlServer::cmd_no_acl(const Command& c) {
  auto list = list_number(c.w, 2);
  if (!list) return fail(list_error("no acl", c.w, 2));
  if (c.w.size() != 3) return fail("no acl: expected 'no acl N'");
  if (c.check) return {};
  std::unique_lock lock(acl_mu_);
  acls_[*list].clear();
  return push_changed_list(std::move(lock), c.service, *list);
}

// Pen's client_acl and control_acl print the list in use, after setting it
// when a number is given.
PenctlReply PenctlServer::cmd_client_acl(const Command& c) {
  if (c.w.size() > 2) return fail("client_acl: expected 'client_acl [N]'");
  std::unique_lock lock(acl_mu_);
  if (c.w.size() == 1) return ok(std::to_string(client_acl_) + "\n");
  auto list = list_number(c.w, 1);
  if (!list) return fail(list_error("client_acl", c.w, 1));
  if (c.check) return {};
  client_acl_ = *list;
  PenctlReply pushed = push_changed_list(std::move(lock), c.service, *list);
  if (pushed.failed) return pushed;
  return ok(std::to_string(*list) + "\n");
}

PenctlReply PenctlServer::cmd_control_acl(const Command& c) {
  if (c.w.size() > 2) return fail("control_acl: expected 'control_acl [N]'");
  std::lock_guard lock(acl_mu_);
  if (c.w.size() == 2) {
    auto list = list_number(c.w, 1);
    if (!list) return fail(list_error("control_acl", c.w, 1));
    if (c.check) return {};
    control_acl_ = *list;
  }
  return ok(std::to_string(control_acl_) + "\n");
}

// Pen's tarpit_acl (direct server return): alone it prints the list in use
// as Pen does ("tarpit_acl = N", -1 for none); N 0-9 sets it, -1 clears it.
PenctlReply PenctlServer::cmd_tarpit_acl(const Command& c) {
  if (c.w.size() > 2) return fail("tarpit_acl: expected 'tarpit_acl [N]'");
  std::unique_lock lock(acl_mu_);
  auto shown = [](std::optional<size_t> n) { return "tarpit_acl = " + (n ? std::to_string(*n) : "-1") + "\n"; };
  if (c.w.size() == 1) return ok(shown(tarpit_acl_));
  std::optional<size_t> list;
  if (c.w[1] != "-1") {
    list = list_number(c.w, 1);
    if (!list) return fail(list_error("tarpit_acl", c.w, 1) + " (or -1: none)");
  }
  const AccessList effective = list ? acls_[*list] : AccessList();
  lock.unlock();  // the Dataplane takes its own locks
  // The service decides first: only a direct-server-return one has a tarpit.
  if (c.check) {
    if (Status st = dataplane_.check_tarpit_acl(c.service); !st.ok()) return fail(st);
    return {};
  }
  if (Status st = api_.set_tarpit_acl(c.service, effective); !st.ok()) return fail(st);
  lock.lock();
  tarpit_acl_ = list;
  return ok(shown(list));
}

PenctlReply PenctlServer::push_changed_list(std::unique_lock<std::mutex> lock, const std::string& service,
                                            size_t list) {
  std::optional<AccessList> client, tarpit;
  if (list == client_acl_) client = acls_[list];
  if (tarpit_acl_ == list) tarpit = acls_[list];
  std::vector<uint32_t> servers;  // of this service whose acl is this list
  for (const auto& [key, l] : server_acls_) {
    if (l == list && key.first == service) servers.push_back(key.second);
  }
  const AccessList changed = acls_[list];
  lock.unlock();  // the Dataplane takes its own locks
  for (uint32_t id : servers) {
    // A server that left since: its list went with it.
    if (Status st = api_.set_server_acl(service, id, changed); !st.ok() && st.code() != StatusCode::kNotFound) {
      return fail(st);
    }
  }
  if (client) {
    if (Status st = api_.set_client_acl(service, *client); !st.ok()) return fail(st);
  }
  if (tarpit) {
    if (Status st = api_.set_tarpit_acl(service, *tarpit); !st.ok()) return fail(st);
  }
  return {};
}

}  // namespace nib::admin
