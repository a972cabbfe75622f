#include "server/config/pen_args.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>
#include <tuple>
#include <variant>

#include "dataplane/config/pen_mode_flags.h"
#include "dataplane/config/pen_ssl_words.h"
#include "server/config/config_values.h"
#include "server/config/yaml_loader.h"

namespace nib {
namespace {

// A numeric balancing setting reachable from the command line, either as a short
// option (-b 30) or as a penctl word (-o "blacklist 30"). All integer ranges are
// far below 2^53, so a double carries every value exactly to `store`.
struct NumericSetting {
  std::string_view yaml_key;  // where the setting lives in a --config file
  std::variant<IntRange, SecondsRange> range;
  void (*store)(ServiceConfig&, double);
};

constexpr NumericSetting kBlacklist{"policy.blacklist", limits::kSeconds,
                                    [](ServiceConfig& s, double v) { s.policy.blacklist_seconds = v; }};
constexpr NumericSetting kTracking{"policy.tracking", limits::kSeconds,
                                   [](ServiceConfig& s, double v) { s.policy.tracking_seconds = v; }};
constexpr NumericSetting kTableSize{"policy.table_size", limits::kTableSize,
                                    [](ServiceConfig& s, double v) { s.policy.table_size = static_cast<uint64_t>(v); }};
constexpr NumericSetting kConnectTimeout{"connect_timeout", limits::kConnectTimeout,
                                         [](ServiceConfig& s, double v) { s.policy.connect_timeout_seconds = v; }};
constexpr NumericSetting kIdleTimeout{"idle_timeout", limits::kSeconds,
                                      [](ServiceConfig& s, double v) { s.policy.idle_timeout_seconds = v; }};
constexpr NumericSetting kMaxConnections{"max_connections", limits::kMaxConnections,
                                         [](ServiceConfig& s, double v) { s.policy.max_connections = static_cast<uint32_t>(v); }};
constexpr NumericSetting kPendingMax{"pending_max", limits::kPendingMax,
                                     [](ServiceConfig& s, double v) { s.policy.pending_max = static_cast<uint32_t>(v); }};
constexpr NumericSetting kIdlers{"idlers", limits::kIdlers,
                                 [](ServiceConfig& s, double v) { s.policy.idlers = static_cast<uint32_t>(v); }};
constexpr NumericSetting kBacklog{"backlog", limits::kBacklog,
                                  [](ServiceConfig& s, double v) { s.backlog = static_cast<int>(v); }};
// UDP (-U) only.
constexpr NumericSetting kSessionTimeout{"session_timeout", limits::kSessionTimeout,
                                         [](ServiceConfig& s, double v) { s.udp_session_timeout_seconds = v; }};
constexpr NumericSetting kMaxSessions{"max_sessions", limits::kMaxSessions,
                                      [](ServiceConfig& s, double v) { s.udp_max_sessions = static_cast<uint64_t>(v); }};

// Pen's short options that carry a numeric setting.
struct ShortSetting {
  char letter;
  const NumericSetting* setting;
};
constexpr ShortSetting kShortSettings[] = {
    {'b', &kBlacklist}, {'c', &kTableSize}, {'t', &kConnectTimeout}, {'x', &kMaxConnections},
    {'T', &kTracking},  {'q', &kBacklog},
};

// penctl words usable with -o/-O that carry a numeric setting.
struct PenctlSetting {
  std::string_view word;
  const NumericSetting* setting;
};
constexpr PenctlSetting kPenctlSettings[] = {
    {"blacklist", &kBlacklist},       {"tracking", &kTracking},   {"timeout", &kConnectTimeout},
    {"idle_timeout", &kIdleTimeout},  {"clients_max", &kTableSize}, {"conn_max", &kMaxConnections},
    {"pending_max", &kPendingMax},    {"idlers", &kIdlers},
};

// Pen's mode flags as short options; "-o prio" and the other penctl words set
// the same flags. They combine as Pen's do (PenModeFlags): prio over weight
// over hash over roundrobin, whatever the order given.
struct ModeLetter {
  char letter;
  std::string_view word;
};
constexpr ModeLetter kModeLetters[] = {{'r', "roundrobin"}, {'h', "hash"}, {'W', "weight"}};

// Options Pen still takes but that do nothing here: a warning, then on.
struct IgnoredOption {
  char letter;
  std::string_view warning;
};
constexpr IgnoredOption kIgnored[] = {
    {'D', "-D (delayed forward) is obsolete since Pen 0.26.0; ignored"},
    {'Q', "-Q (kqueue) is obsolete: nib uses epoll; ignored"},
    {'S', "-S (server table size) is obsolete: the server table grows as needed; ignored"},
    {'n', "-n (nonblocking sockets) is obsolete: sockets are always nonblocking; ignored"},
    {'P', "-P (poll) has no effect: nib uses epoll; ignored"},
    {'a', "-a (ASCII communication dumps) has no effect: nib does not dump traffic; ignored"},
    {'m', "-m (multi_accept) has no effect: nib's workers accept in batches of their own; ignored"},
};

// Pen options nib does not implement: an error naming them, never silently ignored.
struct UnsupportedOption {
  char letter;
  std::string_view what;
  std::string_view hint;
};
constexpr UnsupportedOption kUnsupported[] = {
    {'i', "Windows service", ""},
};

// Pen's -L: the lowest protocol. Older ones than TLS 1.2 are broken (and off
// in Debian's OpenSSL): asking for them gets TLS 1.2 and a warning.
struct TlsProtocolWord {
  std::string_view word;
  std::string_view min_version;
  bool raised;  // nib's floor is higher than what was asked for
};
constexpr TlsProtocolWord kTlsProtocols[] = {
    {"ssl23", "1.2", false}, {"auto", "1.2", false},   {"ssl3", "1.2", true},   {"tls1", "1.2", true},
    {"tls1.1", "1.2", true}, {"tls1.2", "1.2", false}, {"tls1.3", "1.3", false},
};

// Options taking a value ("-b 30", "-b30"); every other letter is a flag.
constexpr std::string_view kValueLetters = "bcetxToOpwqmCSBFjluEKGALi";

constexpr std::string_view kHelpHint = "; see nib --help";

Status option_error(std::string_view option, const std::string& message) {
  return Status::invalid("option " + std::string(option) + ": " + message);
}

// Admin listeners take an IP literal and a port (0: any free port, for tests):
// the admin plane must never wait on DNS, and a typo should stop nib at once.
Status check_admin_listen(std::string_view option, const std::string& value) {
  if (SocketAddress::parse(value).ok()) return {};
  return option_error(option, "expected IP:port such as 127.0.0.1:9902 ([::1]:9902 for IPv6), got '" + value + "'");
}

Result<double> parse_setting(const NumericSetting& setting, std::string_view text) {
  if (const auto* ints = std::get_if<IntRange>(&setting.range)) {
    auto value = parse_int(text, *ints);
    if (!value.ok()) return value.status();
    return static_cast<double>(*value);
  }
  return parse_seconds(text, std::get<SecondsRange>(setting.range));
}

std::string expected_value(const NumericSetting& setting) {
  return std::visit([](const auto& range) { return describe(range); }, setting.range);
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// Splits Pen's "host[:port[:maxc[:hard[:weight[:prio]]]]]"; "[v6]" brackets the host.
std::optional<std::vector<std::string>> split_server(std::string_view text) {
  std::vector<std::string> fields;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    fields.emplace_back(text.substr(1, close - 1));
    text.remove_prefix(close + 1);
    if (text.empty()) return fields;
    if (text.front() != ':') return std::nullopt;
    text.remove_prefix(1);
  } else {
    auto colon = text.find(':');
    fields.emplace_back(text.substr(0, colon));
    if (colon == std::string_view::npos) return fields;
    text.remove_prefix(colon + 1);
  }
  for (size_t colon; (colon = text.find(':')) != std::string_view::npos; text.remove_prefix(colon + 1)) {
    fields.emplace_back(text.substr(0, colon));
  }
  fields.emplace_back(text);
  return fields;
}

class Parser {
 public:
  explicit Parser(const std::vector<std::string>& args) : args_(args) {
    service_.name = "default";
  }
  Result<CommandLine> run();

 private:
  Status parse_short_group(const std::string& arg);
  Status parse_long(const std::string& arg);
  Result<std::string> take_value(std::string_view option, std::string_view attached);
  Status apply_short(char letter, const std::string& value);
  Status apply_setting(std::string_view option, const NumericSetting& setting, std::string_view text);
  Status apply_penctl(std::string_view option, const std::string& text);
  Status apply_tls_option(char letter, const std::string& option, const std::string& value);
  // Pen's ssl_* words (-o): the TLS settings of the service.
  std::optional<Status> apply_ssl_word(const std::string& where, const std::vector<std::string>& words);
  Status apply_long_value(std::string_view name, const std::string& value);
  void note_balancing(std::string_view option, std::string_view yaml_key);

  Result<CommandLine> finish();
  Status check_exclusive();
  Result<CommandLine> finish_config();
  Result<CommandLine> finish_pen();
  Status add_server(const std::string& text, ServiceNames names);
  // -e / -B: host[:port], the listen port when none is given.
  Result<BackendConfig> extra_server(char letter, const std::string& text, ServiceNames names) const;
  Status set_mode_flag(std::string_view option, std::string_view word, bool on);
  void copy_process_settings(AppConfig* config) const;
  void apply_admin_overrides(AdminConfig* admin) const;
  static Status check_admin_tls(const AdminConfig& admin);
  static Status check_jail_paths(const AppConfig& config);

  const std::vector<std::string>& args_;
  size_t next_ = 0;  // index of the argument after the one being parsed
  bool stop_ = false;  // --help / --version seen
  CommandLine result_;

  ServiceConfig service_;
  AppConfig process_;                   // pid/status file, verbosity, grace, workers
  std::string first_balancing_option_;  // for "cannot be used with --config/--demo"
  std::string first_balancing_key_;
  std::vector<std::string> positional_;
  std::optional<std::string> config_file_;
  bool check_ = false;
  bool demo_ = false;
  bool process_overrides_ = false;  // --workers / --shutdown-grace given
  // --relay: with --config too, over the file's `relay` (read once at start,
  // so a reload cannot undo it).
  std::optional<RelayMode> relay_;
  // --no-admin, --admin-http, --admin-grpc: override the YAML's admin section
  // (which a reload never re-reads, so an override cannot be undone by SIGHUP).
  std::optional<bool> admin_enabled_;
  std::optional<std::string> admin_http_;
  std::optional<std::string> admin_grpc_;
  std::optional<std::string> admin_token_file_;
  std::optional<std::string> admin_tls_cert_;
  std::optional<std::string> admin_tls_key_;
  std::optional<std::string> state_file_;
  std::optional<std::vector<std::string>> registry_endpoints_;  // --registry-etcd
  std::optional<std::string> registry_prefix_;                  // --registry-prefix
  std::optional<std::string> penctl_listen_;  // -C
  bool penctl_exit_ = false;                  // -X: the control port's exit command
  std::optional<std::string> penctl_file_;    // -F
  std::vector<std::string> penctl_commands_;  // -o "acl ...", applied by the control port's interpreter
  bool allow_root_control_ = false;           // --allow-root-control
  std::string udp_option_;  // the first UDP-only option given, which needs -U
  // --admin: both admin listeners on their defaults. With Pen's command line
  // the admin plane runs only when asked (--admin, --admin-http,
  // --admin-grpc), so several nibs run side by side as pens do.
  bool admin_asked_ = false;
  bool foreground_ = false;  // -f
  std::optional<std::string> emergency_;  // -e host[:port], resolved once the listen port is known
  std::optional<std::string> abuse_;      // -B host[:port], likewise
  PenModeFlags mode_flags_;
  std::vector<std::string> warnings_;
};

Result<CommandLine> Parser::run() {
  bool options_done = false;
  while (next_ < args_.size() && !stop_) {
    const std::string& arg = args_[next_++];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      positional_.push_back(arg);
    } else if (arg == "--") {
      options_done = true;
    } else {
      Status s = arg.starts_with("--") ? parse_long(arg) : parse_short_group(arg);
      if (!s.ok()) return s;
    }
  }
  if (stop_) return result_;
  return finish();
}

// "-fdr", "-b30", "-b 30": getopt's rules. A value-taking letter ends the group.
Status Parser::parse_short_group(const std::string& arg) {
  for (size_t i = 1; i < arg.size(); ++i) {
    char letter = arg[i];
    std::string value;
    if (kValueLetters.find(letter) != std::string_view::npos) {
      auto v = take_value(std::string("-") + letter, std::string_view(arg).substr(i + 1));
      if (!v.ok()) return v.status();
      value = *v;
      i = arg.size();
    }
    if (Status s = apply_short(letter, value); !s.ok()) return s;
  }
  return {};
}

Result<std::string> Parser::take_value(std::string_view option, std::string_view attached) {
  if (!attached.empty()) return std::string(attached);
  if (next_ < args_.size()) return args_[next_++];
  return option_error(option, "expected a value");
}

Status Parser::apply_short(char letter, const std::string& value) {
  const std::string option = std::string("-") + letter;
  for (const auto& s : kShortSettings) {
    if (s.letter == letter) return apply_setting(option, *s.setting, value);
  }
  for (const auto& m : kModeLetters) {
    if (m.letter == letter) return set_mode_flag(option, m.word, true);
  }
  for (const auto& ignored : kIgnored) {
    if (ignored.letter != letter) continue;
    if (letter == 'm' || letter == 'S') {  // a typo in the value still fails, as every malformed option does
      auto n = parse_int(value, letter == 'm' ? limits::kMultiAccept : limits::kTableSize);
      if (!n.ok()) return option_error(option, n.status().message());
    }
    warnings_.push_back("option " + std::string(ignored.warning));
    return {};
  }
  for (const auto& u : kUnsupported) {
    if (u.letter == letter) {
      return Status::invalid("option " + option + " (" + std::string(u.what) + ") is not yet supported by nib" +
                             std::string(u.hint));
    }
  }
  switch (letter) {
    case 'C': {
      // Pen's -C [host:]port. A bare port binds loopback, not every address
      // as Pen does: the control port has no authentication.
      // The port may be a service name, as Pen's; the host must be an IP.
      // A path is a Unix socket, as in Pen (penctl /path/to/socket ...).
      if (value.starts_with('/')) {
        penctl_listen_ = value;
        return {};
      }
      HostPort hp;
      if (!split_host_port(value, &hp)) {
        return option_error(option, "expected [IP:]PORT or /path/to/socket, got '" + value + "'");
      }
      auto port = parse_port(hp.port, Protocol::kTcp);
      if (!port.ok()) return option_error(option, port.status().message());
      auto address = SocketAddress::from_ip(hp.host.empty() ? "127.0.0.1" : hp.host, *port);
      if (!address.ok()) return option_error(option, "expected [IP:]PORT, " + address.status().message());
      penctl_listen_ = address->to_string();
      return {};
    }
    case 'E':
    case 'K':
    case 'G':
    case 'A':
    case 'Z':
    case 'R':
    case 'L': return apply_tls_option(letter, option, value);
    case 's': service_.policy.stubborn = true; note_balancing(option, "policy.stubborn"); return {};
    case 'H': service_.http = true; note_balancing(option, "http"); return {};
    case 'e':
      // Resolved in finish_pen(): without a port it takes the listen port.
      if (value.empty()) return option_error(option, "expected host[:port]");
      emergency_ = value;
      note_balancing(option, "emergency");
      return {};
    case 'B':
      // Pen's abuse server: clients the client ACL denies go there. Resolved
      // in finish_pen(), as -e.
      if (value.empty()) return option_error(option, "expected host[:port]");
      abuse_ = value;
      note_balancing(option, "abuse");
      return {};
    case 'o':
    case 'O': return apply_penctl(option, value);
    case 'p':
    case 'w':
      if (value.empty()) return option_error(option, "expected a file name");
      (letter == 'p' ? process_.pid_file : process_.status_file) = value;
      return {};
    case 'l': {
      // Pen's -l file|host:port: the access log. host:port (a name is
      // resolved once, now) sends each line as a UDP datagram, to penlogd.
      if (value.empty()) return option_error(option, "expected a file name or host:port");
      AccessLogConfig& log = process_.dataplane.access_log;
      log = AccessLogConfig{};
      HostPort hp;
      const bool looks_remote = value.find('/') == std::string::npos && split_host_port(value, &hp) &&
                                !hp.host.empty() && !hp.port.empty();
      if (!looks_remote) {
        log.path = value;
        return {};
      }
      auto port = parse_port(hp.port, Protocol::kUdp);
      if (!port.ok()) return option_error(option, port.status().message());
      auto address = SocketAddress::resolve(hp.host, *port);
      if (!address.ok()) return option_error(option, address.status().message());
      log.udp = address->to_string();
      return {};
    }
    case 'u':
    case 'j':
      // Pen's -u user / -j dir: least privilege once every port is bound.
      if (value.empty()) return option_error(option, letter == 'u' ? "expected a user name" : "expected a directory");
      (letter == 'u' ? process_.user : process_.jail) = value;
      return {};
    case 'd': ++process_.verbosity; return {};
    case 'f': foreground_ = true; return {};
    case 'X': penctl_exit_ = true; return {};
    case 'F':
      if (value.empty()) return option_error(option, "expected a file of penctl commands");
      penctl_file_ = value;
      return {};
    case 'U':
      service_.protocol = Protocol::kUdp;
      note_balancing(option, "protocol");
      return {};
  }
  return Status::invalid("unknown option " + option + std::string(kHelpHint));
}

// Pen's TLS options: -E cert -K key -G cafile -A cadir -R (require a client
// certificate) -L protocol, and -Z (compatibility: OpenSSL's workarounds are
// always on in nib).
Status Parser::apply_tls_option(char letter, const std::string& option, const std::string& value) {
  TlsConfig& tls = service_.tls;
  note_balancing(option, "tls");
  switch (letter) {
    case 'Z': warnings_.push_back("option -Z (SSL compatibility mode) is always on with OpenSSL 3; ignored"); return {};
    case 'R': tls.client_auth = TlsClientAuth::kRequired; return {};
    case 'L':
      for (const auto& p : kTlsProtocols) {
        if (p.word != value) continue;
        tls.min_version = p.min_version;
        if (p.raised) warnings_.push_back("option -L " + value + ": nib accepts TLS 1.2 and newer only; using tls1.2");
        return {};
      }
      return option_error(option, "expected ssl23, ssl3, tls1, tls1.1, tls1.2 or tls1.3, got '" + value + "'");
  }
  if (value.empty()) return option_error(option, letter == 'A' ? "expected a directory" : "expected a file name");
  (letter == 'E' ? tls.cert_file : letter == 'K' ? tls.key_file : letter == 'G' ? tls.ca_file : tls.ca_dir) = value;
  return {};
}

Status Parser::apply_setting(std::string_view option, const NumericSetting& setting, std::string_view text) {
  auto value = parse_setting(setting, text);
  if (!value.ok()) return option_error(option, value.status().message());
  setting.store(service_, *value);
  note_balancing(option, setting.yaml_key);
  return {};
}

// One penctl command per -o, e.g. "tracking 60", "no hash", "stubborn".
Status Parser::apply_penctl(std::string_view option, const std::string& text) {
  auto words = split_words(text);
  std::string where = std::string(option) + " '" + text + "'";
  bool negate = !words.empty() && words[0] == "no";
  if (negate) words.erase(words.begin());
  if (words.empty()) return option_error(where, "expected a penctl command");
  const std::string& word = words[0];
  if (words.size() == 1 && PenModeFlags().set(word, true)) return set_mode_flag(where, word, !negate);
  if (word == "acl" || word == "client_acl" || word == "control_acl" || word == "tarpit_acl") {
    // Pen's access lists: applied at start by the control port's own
    // interpreter (App), which checks them against the services, before -F.
    if (!std::all_of(text.begin(), text.end(), [](unsigned char c) { return c >= 0x20 && c != 0x7f; })) {
      return option_error(where, "a control character in the command");
    }
    penctl_commands_.push_back(text);
    note_balancing(where, "acl");
    return {};
  }
  if (word == "abort_on_error" && words.size() == 1) {
    process_.abort_on_error = !negate;
    return {};
  }
  if (word == "stubborn" && words.size() == 1) {
    service_.policy.stubborn = !negate;
    note_balancing(where, "policy.stubborn");
    return {};
  }
  // On/off words of a service ("no ..." turns them off), each a YAML key of the same name.
  static constexpr std::pair<std::string_view, bool ServiceConfig::*> kSwitches[] = {
      {"tcp_nodelay", &ServiceConfig::tcp_nodelay},
      {"keepalive", &ServiceConfig::keepalive},
      {"http", &ServiceConfig::http},
      {"transparent", &ServiceConfig::transparent},
      {"dummy", &ServiceConfig::dummy},
  };
  for (const auto& [name, member] : kSwitches) {
    if (word != name || words.size() != 1) continue;
    service_.*member = !negate;
    note_balancing(where, name);
    return {};
  }
  if (word == "tcp_fastclose" && !negate) {
    auto mode = words.size() == 2 ? parse_fast_close(words[1]) : std::nullopt;
    if (!mode) return option_error(where, "expected 'tcp_fastclose up|down|both|off'");
    service_.tcp_fastclose = *mode;
    note_balancing(where, "tcp_fastclose");
    return {};
  }
  if (word == "dsr_if" && !negate) {
    if (words.size() != 2 || words[1].empty() || words[1].size() >= 16) {
      return option_error(where, "expected 'dsr_if IF' with an interface name");
    }
    service_.dsr_interface = words[1];
    note_balancing(where, "dsr_interface");
    return {};
  }
  if (word == "source" && !negate) {
    Result<SocketAddress> ip = Status::invalid("");
    if (words.size() == 2) ip = SocketAddress::from_ip(words[1], 0);
    if (!ip.ok()) return option_error(where, "expected 'source IP' with an IPv4 or IPv6 address");
    service_.source = *ip;
    note_balancing(where, "source");
    return {};
  }
  if (word == "proxy_protocol" && !negate) {
    auto version = words.size() == 2 ? parse_proxy_protocol(words[1]) : std::nullopt;
    if (!version) return option_error(where, "expected 'proxy_protocol v1|v2|off'");
    service_.proxy_protocol = *version;
    note_balancing(where, "proxy_protocol");
    return {};
  }
  if (word == "accept_proxy_protocol" && !negate) {
    if (words.size() < 2) return option_error(where, "expected 'accept_proxy_protocol CIDR...'");
    for (size_t i = 1; i < words.size(); ++i) {
      auto prefix = IpPrefix::parse(words[i]);
      if (!prefix.ok()) return option_error(where, "accept_proxy_protocol: " + prefix.status().message());
      service_.accept_proxy_from.push_back(*prefix);
    }
    note_balancing(where, "accept_proxy_protocol");
    return {};
  }
  if (word.starts_with("ssl_") && !negate) {
    if (auto done = apply_ssl_word(where, words)) return *done;
  }
  for (const auto& p : kPenctlSettings) {
    if (p.word != word || negate) continue;
    if (words.size() != 2) {
      return option_error(where, "expected '" + word + " N' with N " + expected_value(*p.setting));
    }
    return apply_setting(where, *p.setting, words[1]);
  }
  return option_error(where,
                      "penctl command not supported by nib; use one of: prio, weight, hash, roundrobin, "
                      "stubborn, abort_on_error, tcp_nodelay, keepalive (each also as 'no ...'), tcp_fastclose up|down|both|off, source IP, [no] transparent, [no] http, dsr_if IF, acl N ..., no acl N, client_acl N, control_acl N, tarpit_acl N, proxy_protocol v1|v2|off, accept_proxy_protocol CIDR..., ssl_ciphers C, ssl_option O, ssl_sni_path P, ssl_ocsp_response F, blacklist N, tracking N, timeout N, "
                      "idle_timeout N, clients_max N, conn_max N");
}

std::optional<Status> Parser::apply_ssl_word(const std::string& where, const std::vector<std::string>& words) {
  auto done = apply_pen_ssl_word(words, service_.tls);
  if (!done) return std::nullopt;  // not an ssl_ word nib knows: said below
  if (!done->status.ok()) return option_error(where, done->status.message());
  if (!done->note.empty()) warnings_.push_back(where + ": " + done->note);
  note_balancing(where, "tls");
  return Status{};
}

Status Parser::set_mode_flag(std::string_view option, std::string_view word, bool on) {
  mode_flags_.set(word, on);
  service_.policy.mode = mode_flags_.mode();
  note_balancing(option, "policy.mode");
  return {};
}

void Parser::note_balancing(std::string_view option, std::string_view yaml_key) {
  if (!first_balancing_option_.empty()) return;
  first_balancing_option_ = option;
  first_balancing_key_ = yaml_key;
}

// Long options: nib's own. Both "--opt value" and "--opt=value".
Status Parser::parse_long(const std::string& arg) {
  auto eq = arg.find('=');
  std::string name = arg.substr(0, eq);
  std::optional<std::string> attached;
  if (eq != std::string::npos) attached = arg.substr(eq + 1);
  constexpr std::string_view kFlags[] = {"--check",    "--demo",  "--help",         "--version",
                                         "--no-admin", "--admin", "--defer-accept", "--reuse-port",
                                         "--allow-root-control", "--syslog"};
  constexpr std::string_view kValued[] = {"--config",         "--workers",        "--shutdown-grace", "--event-loop",
                                          "--idle-timeout",   "--session-timeout", "--max-sessions",
                                          "--admin-http",     "--admin-grpc",      "--admin-token-file", "--state",
                                          "--registry-etcd",  "--registry-prefix",
                                          "--admin-tls-cert", "--admin-tls-key", "--user",  "--chroot",
                                          "--log-format",     "--relay"};
  if (std::ranges::find(kFlags, name) != std::end(kFlags)) {
    if (attached) return option_error(name, "takes no value");
    if (name == "--check") {
      check_ = true;
    } else if (name == "--demo") {
      demo_ = true;
    } else if (name == "--no-admin") {
      admin_enabled_ = false;
    } else if (name == "--admin") {
      admin_asked_ = true;
    } else if (name == "--defer-accept") {
      service_.defer_accept = true;
      note_balancing(name, "defer_accept");
    } else if (name == "--allow-root-control") {
      allow_root_control_ = true;
    } else if (name == "--syslog") {
      process_.syslog = true;
    } else if (name == "--reuse-port") {
      service_.reuse_port = true;
      note_balancing(name, "reuse_port");
    } else {  // --help, --version: the rest of the line no longer matters
      result_.action = name == "--help" ? CommandLine::Action::kHelp : CommandLine::Action::kVersion;
      stop_ = true;
    }
    return {};
  }
  if (std::ranges::find(kValued, name) == std::end(kValued)) {
    return Status::invalid("unknown option " + name + std::string(kHelpHint));
  }
  std::string value;
  if (attached) {
    value = *attached;
  } else if (next_ < args_.size()) {
    value = args_[next_++];
  } else {
    return option_error(name, "expected a value");
  }
  return apply_long_value(name, value);
}

Status Parser::apply_long_value(std::string_view name, const std::string& value) {
  if (name == "--config") {
    if (config_file_) return option_error(name, "given twice");
    if (value.empty()) return option_error(name, "expected a file name");
    config_file_ = value;
    return {};
  }
  if (name == "--idle-timeout") return apply_setting(name, kIdleTimeout, value);
  if (name == "--log-format") {
    auto format = parse_log_format(value);
    if (!format) return option_error(name, "expected text or json, got '" + value + "'");
    process_.log_format = *format;
    return {};
  }
  if (name == "--relay") {
    auto mode = parse_relay_mode(value);
    if (!mode) return option_error(name, "expected splice or sockmap, got '" + value + "'");
    relay_ = *mode;
    return {};
  }
  if (name == "--user") return apply_short('u', value);
  if (name == "--chroot") return apply_short('j', value);
  if (name == "--admin-token-file") {
    if (value.empty()) return option_error(name, "expected a file name");
    admin_token_file_ = value;
    return {};
  }
  if (name == "--admin-tls-cert" || name == "--admin-tls-key") {
    if (value.empty()) return option_error(name, "expected a file name");
    (name == "--admin-tls-cert" ? admin_tls_cert_ : admin_tls_key_) = value;
    return {};
  }
  if (name == "--state") {
    if (value.empty()) return option_error(name, "expected a file name");
    state_file_ = value;
    return {};
  }
  if (name == "--registry-etcd") {
    std::vector<std::string> endpoints;
    for (size_t start = 0; start <= value.size();) {
      size_t comma = std::min(value.find(',', start), value.size());
      std::string one = value.substr(start, comma - start);
      if (auto e = parse_etcd_endpoint(one); !e.ok()) return option_error(name, e.status().message());
      endpoints.push_back(one);
      start = comma + 1;
    }
    registry_endpoints_ = endpoints;
    return {};
  }
  if (name == "--registry-prefix") {
    registry_prefix_ = value;
    return {};
  }
  if (name == "--admin-http" || name == "--admin-grpc") {
    if (Status s = check_admin_listen(name, value); !s.ok()) return s;
    (name == "--admin-http" ? admin_http_ : admin_grpc_) = value;
    return {};
  }
  if (name == "--session-timeout" || name == "--max-sessions") {
    if (udp_option_.empty()) udp_option_ = name;
    return apply_setting(name, name == "--max-sessions" ? kMaxSessions : kSessionTimeout, value);
  }
  process_overrides_ = true;
  if (name == "--workers") {
    auto n = parse_int(value, limits::kWorkers);
    if (!n.ok()) return option_error(name, n.status().message());
    process_.dataplane.workers = static_cast<int>(*n);
    return {};
  }
  if (name == "--event-loop") {
    auto backend = parse_loop_backend(value);
    if (!backend) return option_error(name, "expected epoll or io_uring, got '" + value + "'");
    process_.dataplane.event_loop = *backend;
    return {};
  }
  auto seconds = parse_seconds(value, limits::kSeconds);  // --shutdown-grace
  if (!seconds.ok()) return option_error(name, seconds.status().message());
  process_.shutdown_grace_seconds = *seconds;
  return {};
}

Result<CommandLine> Parser::finish() {
  if (Status s = check_exclusive(); !s.ok()) return s;
  Result<CommandLine> out = result_;
  if (config_file_) {
    out = finish_config();
  } else if (demo_) {
    result_.action = CommandLine::Action::kDemo;
    copy_process_settings(&result_.config);
    out = result_;
  } else {
    out = finish_pen();
  }
  if (out.ok()) {
    if (registry_endpoints_) out->config.registry.endpoints = *registry_endpoints_;
    if (registry_prefix_) out->config.registry.prefix = *registry_prefix_;
    if (Status s = check_registry(out->config.registry); !s.ok()) return s;
    if (out->config.registry.enabled() && !out->config.admin.state_file.empty()) {
      return Status::invalid("a shared registry (registry:, --registry-etcd) and a state file (--state, "
                             "admin.state_file) both keep the runtime state: use one");
    }
    if (Status s = check_admin_tls(out->config.admin); !s.ok()) return s;
    if (Status s = check_jail_paths(out->config); !s.ok()) return s;
    out->warnings = warnings_;
  }
  return out;
}

// The pair may come from the file, the command line or one from each.
Status Parser::check_admin_tls(const AdminConfig& admin) {
  if (admin.tls_cert_file.empty() == admin.tls_key_file.empty()) return {};
  return Status::invalid(std::string("admin TLS needs both a certificate and a key: only the ") +
                         (admin.tls_cert_file.empty() ? "key" : "certificate") +
                         " was given (--admin-tls-cert FILE --admin-tls-key FILE, or admin.tls_cert_file and "
                         "admin.tls_key_file in YAML)");
}

// With -j the state file is read before the chroot and written after it: a
// path relative to the jail (nib works in it from the start) names the same
// file both times; an absolute one would not.
Status Parser::check_jail_paths(const AppConfig& config) {
  if (config.jail.empty() || !config.admin.state_file.starts_with('/')) return {};
  return Status::invalid("state file " + config.admin.state_file + " with -j " + config.jail +
                         ": give the state file relative to the jail (it is written after the chroot), e.g. "
                         "--state state/nib.state for " + config.jail + "/state/nib.state");
}

// --config and --demo bring their own services: balancing options and positional
// arguments would be silently lost, so they are errors.
Status Parser::check_exclusive() {
  if (check_ && demo_) return Status::invalid("--check and --demo cannot be used together");
  if (admin_asked_ && admin_enabled_ == false) return Status::invalid("--admin and --no-admin cannot be used together");
  if (config_file_ && demo_) return Status::invalid("--config and --demo cannot be used together");
  if (penctl_file_ && (config_file_ || demo_)) {
    return option_error("-F", std::string("Pen's penctl file works with Pen's command line, not with ") +
                                  (config_file_ ? "--config" : "--demo"));
  }
  if (!config_file_ && !demo_) return {};
  std::string mode = config_file_ ? "--config" : "--demo";
  if (!first_balancing_option_.empty()) {
    std::string msg = "option " + first_balancing_option_ + " cannot be used with " + mode;
    if (config_file_) msg += "; set " + first_balancing_key_ + " in " + *config_file_ + " instead";
    return Status::invalid(msg);
  }
  if (!positional_.empty()) {
    std::string msg = "'" + positional_[0] + "': a listen address and servers cannot be given with " + mode;
    if (config_file_) msg += "; list the services in " + *config_file_ + " instead";
    return Status::invalid(msg);
  }
  // Reloading the file (SIGHUP) would quietly undo a command-line override.
  if (config_file_ && process_overrides_) {
    return Status::invalid("--workers, --event-loop and --shutdown-grace cannot be used with --config; set "
                           "workers, event_loop and shutdown_grace in " + *config_file_ + " instead");
  }
  return {};
}

Result<CommandLine> Parser::finish_config() {
  auto loaded = YamlLoader::load_file(*config_file_);
  if (!loaded.ok()) return loaded.status();
  result_.action = check_ ? CommandLine::Action::kCheck : CommandLine::Action::kRun;
  result_.config = std::move(*loaded);
  result_.config.pid_file = process_.pid_file;
  result_.config.status_file = process_.status_file;
  result_.config.verbosity = process_.verbosity;
  result_.config.syslog = process_.syslog;
  result_.config.log_format = process_.log_format;
  if (!process_.user.empty()) result_.config.user = process_.user;
  if (!process_.jail.empty()) result_.config.jail = process_.jail;
  // -l with --config: the command line's log replaces the file's access_log.
  if (process_.dataplane.access_log.enabled()) result_.config.dataplane.access_log = process_.dataplane.access_log;
  if (relay_) result_.config.dataplane.relay = *relay_;
  apply_admin_overrides(&result_.config.admin);
  return result_;
}

Result<CommandLine> Parser::finish_pen() {
  if (positional_.empty()) {
    std::string message = "expected [host:]port and at least one server, or --config FILE" + std::string(kHelpHint);
    // "nib -h" is the classic slip: in pen, -h is hash balancing, not help.
    if (first_balancing_option_ == "-h") message += " (-h selects hash balancing, as in pen)";
    return Status::invalid(message);
  }
  if (!udp_option_.empty() && service_.protocol != Protocol::kUdp) {
    return option_error(udp_option_, "applies to UDP only; add -U");
  }
  if (service_.defer_accept && service_.protocol == Protocol::kUdp) {
    return option_error("--defer-accept", "applies to TCP only; not with -U");
  }
  // Ports may be service names ("smtp"), looked up for the service's protocol.
  const ServiceNames names = service_.protocol;
  if (positional_[0].starts_with('/')) {
    // Pen's /path/to/socket: a Unix socket listener (validate() names what it
    // cannot go with: -U, transparent, dsr_if, --defer-accept).
    service_.listen_path = positional_[0];
  } else {
    auto listen = parse_listen_address(positional_[0], names);
    if (!listen.ok()) return Status::invalid("listen address: " + listen.status().message());
    service_.listen = listen->address;
  }
  if (positional_.size() < 2) {
    return Status::invalid("expected at least one server after the listen address '" + positional_[0] + "'" +
                           std::string(kHelpHint));
  }
  for (size_t i = 1; i < positional_.size(); ++i) {
    if (Status s = add_server(positional_[i], names); !s.ok()) return s;
  }
  for (auto [letter, text, server] : {std::tuple{'e', &emergency_, &service_.emergency},
                                      std::tuple{'B', &abuse_, &service_.abuse}}) {
    if (!*text) continue;
    auto resolved = extra_server(letter, **text, names);
    if (!resolved.ok()) return resolved.status();
    *server = *resolved;
  }
  if (service_.policy.mode == BalanceMode::kWeight) {
    // Pen's default weight is 0, and weight 0 takes no new clients.
    std::string unweighted;
    for (size_t i = 1; i < positional_.size(); ++i) {
      if (service_.backends[i - 1].weight == 0) unweighted += (unweighted.empty() ? "" : ", ") + positional_[i];
    }
    if (!unweighted.empty()) {
      warnings_.push_back("weight mode (-W): no weight given for " + unweighted +
                          ", so weight 0 (Pen's default), which takes no new clients; give one as "
                          "host:port:maxc:hard:WEIGHT");
    }
  }
  result_.action = check_ ? CommandLine::Action::kCheck : CommandLine::Action::kRun;
  copy_process_settings(&result_.config);
  // Pen's command line: the admin plane only when asked, Pen's background mode unless -f.
  result_.config.admin.enabled = admin_asked_ || admin_http_ || admin_grpc_;
  result_.config.admin.serve_http = admin_asked_ || admin_http_;
  result_.config.admin.serve_grpc = admin_asked_ || admin_grpc_;
  if (admin_enabled_ == false) result_.config.admin.enabled = false;
  if (!result_.config.admin.enabled) {
    for (const auto& [given, name] : {std::pair{admin_token_file_.has_value(), "--admin-token-file"},
                                      std::pair{admin_tls_cert_.has_value(), "--admin-tls-cert"},
                                      std::pair{admin_tls_key_.has_value(), "--admin-tls-key"}}) {
      if (given) {
        return option_error(name, "with Pen's command line the admin plane runs only when asked: add --admin "
                                  "(or --admin-http IP:PORT / --admin-grpc IP:PORT)");
      }
    }
  }
  result_.config.daemonize = !foreground_;
  result_.config.dataplane.services = {service_};
  if (Status s = validate(result_.config.dataplane); !s.ok()) return s;
  return result_;
}

// Pen's -e and -B host[:port]: the listen port when none is given; the host
// is resolved once, here.
Result<BackendConfig> Parser::extra_server(char letter, const std::string& text, ServiceNames names) const {
  const std::string where = std::string("option -") + letter + " '" + text + "': ";
  auto fields = split_server(text);
  if (!fields || fields->size() > 2 || (*fields)[0].empty()) return Status::invalid(where + "expected host[:port]");
  uint16_t port = service_.listen.port();
  if (fields->size() != 2 && !service_.listen_path.empty()) {
    return Status::invalid(where + "expected host:port (the listen address is a Unix socket: no port to default to)");
  }
  if (fields->size() == 2) {
    auto p = parse_port((*fields)[1], names);
    if (!p.ok()) return Status::invalid(where + p.status().message());
    port = *p;
  }
  auto endpoint = resolve_endpoint((*fields)[0], port);
  if (!endpoint.ok()) return Status::invalid(where + endpoint.status().message());
  return BackendConfig{.host = endpoint->host, .address = endpoint->address};
}

// host[:port[:maxc[:hard[:weight[:prio]]]]]; an empty field takes the default
// (Pen's: the listen port, no limits, weight 0, prio 0). The same server may be
// listed twice, as in Pen: each is a server of its own.
Status Parser::add_server(const std::string& text, ServiceNames names) {
  const std::string where = "server '" + text + "': ";
  auto fields = split_server(text);
  if (!fields || fields->size() > 6 || (*fields)[0].empty()) {
    return Status::invalid(where + "expected host[:port[:maxc[:hard[:weight[:prio]]]]] (IPv6 as [::1]:80)");
  }
  auto field = [&](size_t i) { return i < fields->size() ? std::string_view((*fields)[i]) : std::string_view(); };
  struct Part {
    const char* name;
    IntRange range;
    int64_t value;
  };
  Part parts[] = {{"port", limits::kPort, service_.listen.port()},
                  {"maxc", limits::kConnectionLimit, 0},
                  {"hard", limits::kConnectionLimit, 0},
                  {"weight", limits::kWeight, 0},
                  {"prio", limits::kPrio, 0}};
  if (field(1).empty() && !service_.listen_path.empty()) {
    return Status::invalid(where + "a port is needed (the listen address is a Unix socket: no port to default to)");
  }
  if (!field(1).empty()) {
    auto port = parse_port(field(1), names);
    if (!port.ok()) return Status::invalid(where + "port: " + port.status().message());
    parts[0].value = *port;
  }
  for (size_t i = 1; i < std::size(parts); ++i) {
    if (field(i + 1).empty()) continue;
    auto value = parse_int(field(i + 1), parts[i].range);
    if (!value.ok()) return Status::invalid(where + parts[i].name + ": " + value.status().message());
    parts[i].value = *value;
  }
  auto endpoint = resolve_endpoint((*fields)[0], static_cast<uint16_t>(parts[0].value));
  if (!endpoint.ok()) return Status::invalid(where + endpoint.status().message());
  service_.backends.push_back(BackendConfig{.host = endpoint->host,
                                            .address = endpoint->address,
                                            .soft_limit = static_cast<uint32_t>(parts[1].value),
                                            .hard_limit = static_cast<uint32_t>(parts[2].value),
                                            .weight = static_cast<uint32_t>(parts[3].value),
                                            .prio = static_cast<uint32_t>(parts[4].value)});
  return {};
}

void Parser::copy_process_settings(AppConfig* config) const {
  config->pid_file = process_.pid_file;
  config->status_file = process_.status_file;
  config->verbosity = process_.verbosity;
  config->abort_on_error = process_.abort_on_error;
  config->syslog = process_.syslog;
  config->log_format = process_.log_format;
  config->user = process_.user;
  config->jail = process_.jail;
  config->shutdown_grace_seconds = process_.shutdown_grace_seconds;
  config->dataplane.workers = process_.dataplane.workers;
  config->dataplane.event_loop = process_.dataplane.event_loop;
  if (relay_) config->dataplane.relay = *relay_;
  config->dataplane.access_log = process_.dataplane.access_log;
  apply_admin_overrides(&config->admin);
}

void Parser::apply_admin_overrides(AdminConfig* admin) const {
  if (admin_asked_) admin->enabled = admin->serve_http = admin->serve_grpc = true;
  if (admin_enabled_) admin->enabled = *admin_enabled_;
  if (admin_http_) admin->http_listen = *admin_http_;
  if (admin_grpc_) admin->grpc_listen = *admin_grpc_;
  if (admin_token_file_) admin->token_file = *admin_token_file_;
  if (admin_tls_cert_) admin->tls_cert_file = *admin_tls_cert_;
  if (admin_tls_key_) admin->tls_key_file = *admin_tls_key_;
  if (state_file_) admin->state_file = *state_file_;
  if (penctl_listen_) admin->penctl_listen = *penctl_listen_;
  if (penctl_exit_) admin->penctl_exit = true;
  if (penctl_file_) admin->penctl_file = *penctl_file_;
  admin->penctl_commands = penctl_commands_;
  if (allow_root_control_) admin->allow_root_control = true;
}

}  // namespace

Result<CommandLine> PenArgs::parse(const std::vector<std::string>& args) { return Parser(args).run(); }

std::string PenArgs::usage() {
  return R"(Usage: nib [options] [host:]port h1[:p1[:maxc1[:hard1[:weight1[:prio1]]]]] [h2...]
       nib --config FILE [--check] [-p file] [-w file] [-d]
       nib --demo | --help | --version

nib is a TCP and UDP load balancer with Pen's command line. Examples:
  nib 80 www1:8000:10 www2:80:10 www3
  nib -U 53 ns1 ns2

Listen address: [host:]port; no host listens on 0.0.0.0, IPv6 as [::1]:8080;
/path/to/socket listens on a Unix socket (TCP; servers need their port).
Servers: host[:port[:maxc[:hard[:weight[:prio]]]]]; port defaults to the listen
port, an empty field (h::10) takes the default; maxc/hard are the connection
limits for new/returning clients (maxc 0 = unlimited); weight defaults to 0 as
in pen; IPv6 as [::1]:80:10; a server may be listed twice. Ports may be names
from /etc/services (smtp, http).
Without -f nib goes to the background once it listens and logs to syslog; the
REST/gRPC admin plane runs only when asked (--admin, --admin-http, --admin-grpc).

Pen options:
  -b sec       blacklist servers that fail for sec seconds (30)
  -c N         client table size (2048)
  -e host[:port] emergency server, used when all others are unavailable
               (port: the listen port)
  -B host[:port] abuse server: clients the client ACL denies are relayed
               there instead of being closed (port: the listen port)
  -t sec       connect timeout, > 0 and <= 3600 (5)
  -x N         max simultaneous connections (0 = as many as descriptors allow)
  -T sec       client tracking time (0 = never expire)
  -q backlog   listen backlog (4096)
  -r           round-robin, no client tracking
  -h           hash of the client IP for the initial choice (-h is NOT help, as in pen)
  -W           weight-based server selection (a server without a weight
               has weight 0 and takes no new clients, as in pen)
  -s           stubborn: never fail over from the initial choice
  -H           HTTP/1.x: every request gets X-Forwarded-For (the client's IP)
               and X-Forwarded-Proto; a malformed request is answered 400
  -U           UDP: relay datagrams; each client address:port is a session with
               its own upstream socket; maxc/hard then limit sessions
  -o command   a penctl command, one per -o (-O is the same): prio, weight, hash,
               roundrobin, stubborn, tcp_nodelay, keepalive, http, transparent
               (each also "no ..."; transparent: connections to the servers
               leave from the client's IP),
               "acl N permit|deny ...", "client_acl N", "control_acl N" (Pen's
               access lists, applied before -F),
               "dsr_if IF" (Direct Server Return: the listen address is the
               service's IPv4 address, served by ARP on IF; the servers answer
               the clients directly), "tarpit_acl N" (with dsr_if: answer ARP
               and SYNs for the addresses ACL N permits),
               "tcp_fastclose up|down|both|off", "source IP" (connections to the
               servers leave from IP), "proxy_protocol v1|v2" (a PROXY header
               to the servers), "accept_proxy_protocol CIDR..." (balancers in
               front whose PROXY headers name the client),
               "blacklist N", "tracking N", "timeout N", "idle_timeout N",
               "clients_max N", "conn_max N". The mode flags combine as
               pen's: prio over weight over hash over roundrobin
  -p file      write the process id to file
  -w file      write Pen's HTML status page to file on SIGUSR1
  -l file|host:port  the access log: one line per finished connection in
               Pen's format, appended to file, or sent as UDP datagrams to
               host:port (penlogd). SIGHUP and SIGUSR1 reopen the file
  -F file      a file of penctl commands (penctl(1)), applied at start after
               the command line and again on SIGHUP; every line is checked
               before any applies, a bad one is named as FILE:LINE (exit 2 at
               start; on SIGHUP the running settings stay). `write` without a
               file writes here; `include FILE` lines nest up to 8 deep
  -C [IP:]port|/path
               Pen's control port for penctl (no authentication; a bare
               port listens on 127.0.0.1; a path is a Unix socket, mode 0600)
  -X           enable the control port's exit command (stops nib as SIGTERM does)
  -u user      once every port is bound and every file open, run as user
               (its uid, gid and groups; no capabilities). As in pen, the
               control port (-C) is refused to root without -u
  -j dir       chroot to dir once every port is bound and every file open
               (nib works in dir from the start: relative paths are in it;
               --state must be one)
  -d           log each connection's choice, failover and close; -d -d
               also its connect and half-closes
  -f           stay in the foreground (logs to stderr)
  -P, -a, -m N accepted with a warning, no effect in nib (also pen's obsolete
               -D, -Q, -S N, -n)
  Short options bundle as in getopt (-fdr, -b30); -- ends the options.
  Not yet supported (an error): -E, -K, -G, -A, -Z, -R, -L,
  -i. See docs/pen-compat.md.

nib options:
  --config FILE         read services from a YAML file (no listen address,
                        servers or balancing options on the command line then)
  --check               validate the configuration and exit
  --demo                run a self-contained demo (no other arguments needed)
  --workers N           worker threads, 0-256 (0 = one per core)
  --event-loop KIND     epoll (default) or io_uring: what the TCP workers
                        wait with (io_uring batches registration changes
                        into the wait; epoll if the kernel refuses it)
  --shutdown-grace SEC  on SIGTERM, how long open connections may finish (30)
  --relay MODE          splice (default: established TCP relayed in user
                        space) or sockmap (in the kernel by BPF where
                        permitted, else splice); also with --config
  --idle-timeout SEC    close connections idle this long (0 = never)
  --defer-accept        accept a client once its first bytes are in
                        (TCP_DEFER_ACCEPT); where the server speaks first
                        (SMTP, FTP, MySQL) clients wait about 1 s more
  --admin               both admin listeners on their defaults (with Pen's
                        command line they run only when asked; with --config
                        they run unless admin.enabled is false)
  --reuse-port          share the listen port with other processes that
                        bind it with SO_REUSEPORT (another nib, say); without
                        it a port in use is an error at start
  --admin-http IP:PORT  admin HTTP API (127.0.0.1:9901)
  --admin-grpc IP:PORT  admin gRPC API, what nibctl talks to (127.0.0.1:9902)
  --no-admin            no admin listeners at all
  --admin-token-file FILE  bearer tokens for the admin APIs, lines
                        "admin <token>" or "readonly <token>" (GETs need
                        either, changes an admin token); default: no auth
  --admin-tls-cert FILE, --admin-tls-key FILE
                        serve both admin APIs over TLS with this PEM
                        certificate (chain) and key (nibctl --tls)
  --state FILE          save changes made through the admin APIs (backends,
                        drains, pins, policy) to FILE and restore them at start
  --registry-etcd URL[,URL...]  share backends, drains, pins, policies and
                        ACLs with other nibs through etcd (http://HOST:PORT);
                        replaces --state
  --registry-prefix P   the registry's key prefix (/nib/)
  --user USER, --chroot DIR  the same as -u USER, -j DIR
  --allow-root-control  open the control port (-C) even as root without -u
  --syslog              log events to syslog also in the foreground (Pen's
                        background mode always does)
  --log-format FMT      text (default) or json: one JSON object per stderr
                        line, {"time", "level", "msg"}, for log collectors
  --session-timeout SEC with -U: end a session silent this long, > 0 (60)
  --max-sessions N      with -U: session limit, 0-10000000; the least recently
                        used is evicted when full (0 = as descriptors allow)
  --help, --version
  Long options take "--opt value" or "--opt=value".
)";
}

}  // namespace nib
