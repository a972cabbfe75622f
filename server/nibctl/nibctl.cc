#include "server/nibctl/nibctl.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "dataplane/net/socket_address.h"
#include "server/nibctl/output.h"

namespace nib::nibctl {

namespace v1 = admin::v1;

// One operand of a command: its name and how --help shows it.
struct Operand {
  std::string_view name;  // "id"
  std::string_view shown;  // "ID"
  std::string_view help;
};

// One command: its words, its operands, the options it takes and who runs
// it. The table is the source of the command line parser (CLI11) and of its
// --help texts; the handlers see the operands and options given.
struct CommandSpec {
  std::string_view words;  // "backends add"
  std::vector<Operand> operands;
  std::vector<std::string_view> options;  // keys of kOptions
  int (Nibctl::*handler)(const Nibctl::Args&);
  std::string_view help;
};

namespace {

// Every option a command may take: its value's name ("" for a flag) and help.
struct OptionSpec {
  std::string_view name;
  std::string_view value;
  std::string_view help;
};
constexpr OptionSpec kOptions[] = {
    {"--weight", "N", "its share of new clients in the weight mode (default 1)"},
    {"--prio", "N", "priority: the prio mode prefers the lowest value"},
    {"--soft-limit", "N", "most connections for new clients (0: no limit)"},
    {"--hard-limit", "N", "most connections for returning clients (0: no limit)"},
    {"--proxy-protocol", "V", "PROXY header to it: v1, v2, off, or service (the service's setting)"},
    {"--tcp-fast-open", "", "TCP Fast Open toward it: the client's first bytes in the SYN (new connections)"},
    {"--no-tcp-fast-open", "", "plain connects to it (the default)"},
    {"--address", "HOST", "a new address (open connections finish on the old one)"},
    {"--port", "N", "a new port (open connections finish on the old one)"},
    {"--enable", "", "take new clients again; also ends a drain"},
    {"--disable", "", "take no new clients"},
    {"--close-after", "SEC", "close the connections still open after SEC seconds"},
    {"--backend", "ID", "only the clients of backend ID"},
    {"--limit", "N", "show at most N clients (default 100)"},
    {"--to", "ID", "the backend that takes them (default: they choose afresh)"},
    {"--mode", "MODE", "affinity, roundrobin, hash, weight, prio or maglev"},
    {"--stubborn", "", "never fail over from a client's first choice (Pen's -s)"},
    {"--no-stubborn", "", "fail over (the default)"},
    {"--consistent", "", "affinity mode places new clients by Maglev hashing (replicas agree)"},
    {"--no-consistent", "", "affinity mode places new clients round-robin (the default)"},
    {"--tracking", "SEC", "forget a client idle this long (Pen's -T; 0: never)"},
    {"--blacklist", "SEC", "skip a failed backend this long (Pen's -b)"},
    {"--table-size", "N", "client table slots (Pen's -c)"},
    {"--connect-timeout", "SEC", "wait this long for a backend to accept (Pen's -t); new connections"},
    {"--idle-timeout", "SEC", "close a connection silent this long (0: never); new connections"},
    {"--max-connections", "N", "at most N connections, then clients wait (Pen's -x; 0: no limit)"},
    {"--pending-max", "N", "at most N clients connecting to backends, then clients wait (Pen's pending_max; 0: no limit)"},
    {"--idlers", "N", "keep N idle connections open to the backends (Pen's idlers; 0: none)"},
    {"--cert", "FILE", "PEM certificate, chain after it (Pen's -E)"},
    {"--key", "FILE", "PEM private key (Pen's -K; empty: in the certificate's file)"},
    {"--ca", "FILE", "CAs client certificates must chain to (Pen's -G; empty: none)"},
    {"--ca-dir", "DIR", "the same, a hashed directory (Pen's -A)"},
    {"--sni-path", "DIR", "NAME.crt + NAME.key per server name (Pen's ssl_sni_path; empty: none)"},
    {"--min-version", "V", "the lowest protocol accepted: 1.2 or 1.3 (Pen's -L)"},
    {"--ciphers", "LIST", "TLS 1.2 cipher list (Pen's ssl_ciphers; empty: OpenSSL's)"},
    {"--client-auth", "WHEN", "client certificates: off, optional or required (Pen's -R)"},
    {"--prefer-server-ciphers", "", "nib's cipher order decides (ssl_option cipher_server_preference)"},
    {"--no-prefer-server-ciphers", "", "the client's order decides (the default)"},
    {"--alpn", "LIST", "protocols agreed to, in order: h2,http/1.1 (empty: no ALPN)"},
    {"--ocsp-response", "FILE", "a DER OCSP response to staple (Pen's ssl_ocsp_response; empty: none)"},
};

const OptionSpec& option_spec(std::string_view name) {
  for (const auto& o : kOptions) {
    if (o.name == name) return o;
  }
  std::abort();  // the command table names an option kOptions lacks
}

// Options every command takes (the root's; CLI11's fallthrough lets them come
// after the command words too). The key is what Args::options holds.
struct GlobalOption {
  std::string_view names;  // CLI11's "-o,--output"
  std::string_view key;
  std::string_view value;  // "" for a flag
  std::string_view help;
};
constexpr GlobalOption kGlobals[] = {
    {"--addr", "--addr", "HOST:PORT", "nib's admin gRPC address (127.0.0.1:9902)"},
    {"--service", "--service", "NAME", "the service; needed when nib runs several"},
    {"-o,--output", "-o", "FORMAT", "table (default) or json, in the REST API's shape (/api/v1)"},
    {"--token-file", "--token-file", "FILE",
     "send the token in FILE (just the token, one line) as 'authorization: Bearer ...'"},
    {"--timeout", "--timeout", "SEC", "per-call deadline (10)"},
    {"--tls", "--tls", "", "TLS to nib (admin.tls_cert_file); trusts the system's CAs"},
    {"--ca-file", "--ca-file", "FILE", "TLS, trusting the PEM certificates in FILE instead"},
    {"--tls-server-name", "--tls-server-name", "NAME",
     "TLS: the name to verify in nib's certificate (the --addr host by default)"},
};

// The commands of two words, grouped by the first; "backends" alone means
// "backends list", likewise clients and policy.
struct Group {
  std::string_view name;
  std::string_view default_command;
  std::string_view help;
};
constexpr Group kGroups[] = {
    {"backends", "list", "list and change the backends"},
    {"clients", "list", "the client table: list, forget, pin, migrate"},
    {"policy", "show", "the balancing policy"},
    {"acl", "show", "the service's client ACL"},
    {"tls", "show", "a TLS service's certificate and settings"},
};

constexpr std::string_view kFooter =
    "'backends', 'clients', 'policy', 'acl' and 'tls' alone mean list/show; each command has its own --help.\n\n"
    "Exit status: 0 done, 1 nib refused or failed the request, 2 bad usage,\n"
    "3 nib could not be reached.";

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}


}  // namespace

const std::vector<CommandSpec>& Nibctl::commands() {
  constexpr Operand kId{"id", "ID", "the backend's id (see 'backends list')"};
  static const std::vector<CommandSpec> table = {
      {"backends list", {}, {}, &Nibctl::backends_list, "the backends, their state and counters"},
      {"backends show", {kId}, {}, &Nibctl::backends_show, "one backend"},
      {"backends add",
       {{"address", "IP:PORT", "the backend's address ([::1]:80 for IPv6)"}},
       {"--weight", "--prio", "--soft-limit", "--hard-limit", "--proxy-protocol", "--tcp-fast-open"},
       &Nibctl::backends_add,
       "add a backend ([::1]:80 for IPv6)"},
      {"backends rm", {kId}, {}, &Nibctl::backends_rm, "remove a backend; its open connections finish"},
      {"backends drain", {kId}, {"--close-after"}, &Nibctl::backends_drain,
       "no new clients; open connections finish (see 'backends list'), or are closed after --close-after SEC"},
      {"backends set", {kId},
       {"--weight", "--prio", "--soft-limit", "--hard-limit", "--proxy-protocol", "--tcp-fast-open",
        "--no-tcp-fast-open", "--address", "--port", "--enable", "--disable"},
       &Nibctl::backends_set, "change a backend; --enable also ends a drain"},
      {"services", {}, {}, &Nibctl::services, "the services nib runs"},
      {"clients list", {}, {"--backend", "--limit"}, &Nibctl::clients_list,
       "remembered clients (--limit N, default 100)"},
      {"clients forget", {{"ip", "IP", "the client's address"}}, {}, &Nibctl::clients_forget,
       "the client chooses afresh"},
      {"clients pin",
       {{"prefix", "IP|CIDR", "a client address or a prefix (10.0.0.0/8)"}, kId},
       {},
       &Nibctl::clients_pin,
       "pin clients to backend ID until unpinned"},
      {"clients unpin", {{"prefix", "IP|CIDR", "the pin's address or prefix"}}, {}, &Nibctl::clients_unpin,
       "remove a pin"},
      {"clients pins", {}, {}, &Nibctl::clients_pins, "the pins"},
      {"clients migrate", {{"from_id", "FROM_ID", "the backend whose clients move"}}, {"--to"},
       &Nibctl::clients_migrate, "move the clients of a backend (--to ID), or let them choose afresh"},
      {"stats", {}, {}, &Nibctl::stats, "service and backend counters, client table"},
      {"policy show", {}, {}, &Nibctl::policy_show, "the balancing policy"},
      {"policy set", {}, {"--mode", "--stubborn", "--no-stubborn", "--consistent", "--no-consistent", "--tracking", "--blacklist", "--table-size",
                        "--connect-timeout", "--idle-timeout", "--max-connections", "--pending-max"},
       &Nibctl::policy_set, "change it (mode: affinity|roundrobin|hash|weight|prio)"},
      {"acl show", {}, {}, &Nibctl::acl_show, "the client ACL: entries in order, the first match decides"},
      {"acl set",
       {{"entries", "ENTRIES", "entries separated by commas: 'permit 10.0.0.0/8, deny 0.0.0.0/0'"}},
       {},
       &Nibctl::acl_set,
       "replace the client ACL (Pen's entries: permit|deny IP[/LEN] | IP MASK | country CC); when none "
       "matches, the opposite of the last entry's action"},
      {"acl clear", {}, {}, &Nibctl::acl_clear, "empty the client ACL: every client is served"},
      {"tls show", {}, {}, &Nibctl::tls_show, "the TLS settings and when the certificate expires"},
      {"tls set", {}, {"--cert", "--key", "--ca", "--ca-dir", "--sni-path", "--min-version", "--ciphers",
                     "--client-auth", "--prefer-server-ciphers", "--no-prefer-server-ciphers", "--alpn",
                     "--ocsp-response"},
       &Nibctl::tls_set, "change them: the files are read and checked first, new clients get the result"},
      {"tls reload", {}, {}, &Nibctl::tls_reload, "read the certificate files again (a rotated certificate)"},
      {"registry", {}, {}, &Nibctl::registry,
       "where the runtime state is kept; with etcd, the link: connected, revision applied, lag"},
      {"watch", {}, {}, &Nibctl::watch, "print events as they happen, until Ctrl-C"},
  };
  return table;
}

// The command line parser, built from the command table: one CLI11
// subcommand per command word; each leaf knows its CommandSpec.
struct Nibctl::Cli {
  CLI::App app{"nibctl talks to nib's gRPC admin API (nib.admin.v1).", "nibctl"};
  std::map<const CLI::App*, const CommandSpec*> specs;  // leaf -> its command
  std::map<const CLI::App*, CLI::App*> defaults;        // "backends" -> "backends list"
  CLI::App* help = nullptr;                             // "nibctl help"
};

std::unique_ptr<Nibctl::Cli> Nibctl::make_cli() {
  auto cli = std::make_unique<Cli>();
  CLI::App& app = cli->app;
  // Inherited by every subcommand made below: global options may follow the
  // command words, and run() names unknown words itself (as "unknown command").
  app.fallthrough();
  app.allow_extras();
  app.require_subcommand(0, 1);
  app.footer(std::string(kFooter));
  for (const auto& g : kGlobals) {
    if (g.value.empty()) {
      app.add_flag(std::string(g.names))->description(std::string(g.help));
    } else {
      app.add_option(std::string(g.names))->description(std::string(g.help))->type_name(std::string(g.value));
    }
  }
  cli->help = app.add_subcommand("help", "the usage text")->group("");  // hidden: same as --help
  std::map<std::string, CLI::App*> groups;
  for (const auto& spec : commands()) {
    std::vector<std::string> words = split_words(spec.words);
    CLI::App* parent = &app;
    if (words.size() == 2) {
      CLI::App*& group = groups[words[0]];
      if (group == nullptr) {
        auto g = std::find_if(std::begin(kGroups), std::end(kGroups),
                              [&](const Group& candidate) { return candidate.name == words[0]; });
        group = app.add_subcommand(words[0], std::string(g->help));
        group->require_subcommand(0, 1);
        group->footer("'" + words[0] + "' alone means '" + words[0] + " " + std::string(g->default_command) + "'.");
      }
      parent = group;
    }
    CLI::App* leaf = parent->add_subcommand(words.back(), std::string(spec.help));
    leaf->footer("Also nibctl's global options (nibctl --help).");
    for (const auto& operand : spec.operands) {
      leaf->add_option(std::string(operand.name))
          ->description(std::string(operand.help))
          ->type_name(std::string(operand.shown))
          ->required();
    }
    for (std::string_view name : spec.options) {
      const OptionSpec& o = option_spec(name);
      if (o.value.empty()) {
        leaf->add_flag(std::string(o.name))->description(std::string(o.help));
      } else {
        leaf->add_option(std::string(o.name))->description(std::string(o.help))->type_name(std::string(o.value));
      }
    }
    cli->specs[leaf] = &spec;
  }
  for (const auto& g : kGroups) {
    CLI::App* group = groups.at(std::string(g.name));
    cli->defaults[group] = group->get_subcommand(std::string(g.default_command));
  }
  return cli;
}

namespace {

std::optional<uint64_t> parse_uint(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

std::optional<uint32_t> parse_u32(std::string_view text) {
  auto v = parse_uint(text);
  if (!v || *v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(*v);
}

std::optional<double> parse_seconds(const std::string& text) {
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size()) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

const char* code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "ERROR";
  }
}

std::optional<v1::BalanceMode> parse_mode(std::string_view text) {
  constexpr std::pair<std::string_view, v1::BalanceMode> kModes[] = {
      {"affinity", v1::BALANCE_MODE_AFFINITY}, {"roundrobin", v1::BALANCE_MODE_ROUND_ROBIN},
      {"hash", v1::BALANCE_MODE_HASH},         {"weight", v1::BALANCE_MODE_WEIGHT},
      {"prio", v1::BALANCE_MODE_PRIO},         {"maglev", v1::BALANCE_MODE_MAGLEV}};
  for (const auto& [name, mode] : kModes) {
    if (name == text) return mode;
  }
  return std::nullopt;
}

Result<std::string> read_token(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::invalid("--token-file: cannot read " + path);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto blank = [](unsigned char c) { return std::isspace(c) != 0; };
  token.erase(token.begin(), std::find_if_not(token.begin(), token.end(), blank));
  token.erase(std::find_if_not(token.rbegin(), token.rend(), blank).base(), token.end());
  if (token.empty()) return Status::invalid("--token-file: " + path + " is empty");
  if (token.find_first_of(" \t\r\n") != std::string::npos) {
    return Status::invalid("--token-file: " + path + " must hold one token on one line");
  }
  return token;
}

// The command the parse selected: the deepest subcommand.
const CLI::App* selected(const CLI::App& app) {
  const CLI::App* at = &app;
  while (!at->get_subcommands().empty()) at = at->get_subcommands().front();
  return at;
}

// "backends rm: expected ID", for a command given too few or too many operands.
std::string expected_operands(const CommandSpec& spec) {
  std::string operands;
  for (const auto& o : spec.operands) operands += (operands.empty() ? "" : " ") + std::string(o.shown);
  return std::string(spec.words) + ": expected " + (operands.empty() ? "no arguments" : operands);
}

// "backends add" for a selected subcommand; "" for the root.
std::string words_of(const CLI::App* command) {
  std::string words;
  for (; command != nullptr && command->get_parent() != nullptr; command = command->get_parent()) {
    words = command->get_name() + (words.empty() ? "" : " " + words);
  }
  return words;
}

}  // namespace

std::string Nibctl::usage() { return make_cli()->app.help(); }

int Nibctl::usage_error(const std::string& message) {
  err_ << "nibctl: " << message << "\n(nibctl --help lists the commands)\n";
  return kExitUsage;
}

int Nibctl::rpc_error(const grpc::Status& status) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    err_ << "nibctl: cannot reach nib at " << addr_ << ": " << status.error_message()
         << "\n(is nib running with its admin plane on? --addr sets where to look)\n";
    return kExitUnreachable;
  }
  err_ << "nibctl: " << code_name(status.error_code()) << ": " << status.error_message() << "\n";
  return kExitFailed;
}

std::unique_ptr<grpc::ClientContext> Nibctl::context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::duration<double>(timeout_seconds_)));
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  return ctx;
}

void Nibctl::print_json(const google::protobuf::Message& message) { out_ << to_json(message) << "\n"; }

bool Nibctl::connect(const Args& args, int* exit_code) {
  auto option = [&](const char* name) -> const std::string* {
    auto it = args.options.find(name);
    return it == args.options.end() ? nullptr : &it->second;
  };
  if (const std::string* a = option("--addr")) addr_ = *a;
  if (const std::string* s = option("--service")) service_ = *s;
  if (const std::string* o = option("-o")) {
    if (*o != "json" && *o != "table") {
      *exit_code = usage_error("-o: expected table or json, got '" + *o + "'");
      return false;
    }
    json_ = *o == "json";
  }
  if (const std::string* t = option("--timeout")) {
    auto seconds = parse_seconds(*t);
    if (!seconds || *seconds <= 0) {
      *exit_code = usage_error("--timeout: expected seconds > 0, got '" + *t + "'");
      return false;
    }
    timeout_seconds_ = *seconds;
  }
  if (const std::string* f = option("--token-file")) {
    auto token = read_token(*f);
    if (!token.ok()) {
      *exit_code = usage_error(token.status().message());
      return false;
    }
    token_ = *token;
  }
  auto channel = make_channel(option("--tls") != nullptr, option("--ca-file"), option("--tls-server-name"));
  if (!channel.ok()) {
    *exit_code = usage_error(channel.status().message());
    return false;
  }
  stub_ = v1::Admin::NewStub(*channel);
  return true;
}

Result<std::shared_ptr<grpc::Channel>> Nibctl::make_channel(bool tls, const std::string* ca_file,
                                                            const std::string* server_name) const {
  if (!tls && ca_file == nullptr) {
    if (server_name != nullptr) return Status::invalid("--tls-server-name needs --tls or --ca-file");
    return grpc::CreateChannel(addr_, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  if (ca_file != nullptr) {
    std::ifstream in(*ca_file);
    if (!in) return Status::invalid("--ca-file: cannot read " + *ca_file);
    ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (ssl.pem_root_certs.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return Status::invalid("--ca-file: " + *ca_file + " holds no PEM certificate");
    }
  }
  grpc::ChannelArguments arguments;
  if (server_name != nullptr) arguments.SetSslTargetNameOverride(*server_name);
  return grpc::CreateCustomChannel(addr_, grpc::SslCredentials(ssl), arguments);
}

int Nibctl::run(const std::vector<std::string>& argv) {
  std::unique_ptr<Cli> cli = make_cli();
  CLI::App& app = cli->app;
  try {
    app.parse(std::vector<std::string>(argv.rbegin(), argv.rend()));  // CLI11 takes them reversed
  } catch (const CLI::CallForHelp&) {
    out_ << app.help();  // the selected command's
    return kExitOk;
  } catch (const CLI::RequiredError& e) {  // an operand is missing
    if (auto spec = cli->specs.find(selected(app)); spec != cli->specs.end()) {
      return usage_error(expected_operands(*spec->second));
    }
    return usage_error(e.what());
  } catch (const CLI::ParseError& e) {
    std::string words = words_of(selected(app));
    return usage_error((words.empty() ? "" : words + ": ") + e.what());
  }
  const CLI::App* command = selected(app);
  if (command == cli->help) {
    out_ << usage();
    return kExitOk;
  }
  if (command == &app) {  // no command, perhaps options
    std::vector<std::string> extras = app.remaining(true);
    if (extras.empty()) {
      err_ << usage();
      return kExitUsage;
    }
    const std::string& what = extras.front();
    return usage_error(what[0] == '-' ? "unknown option " + what : "unknown command '" + what + "'");
  }
  if (auto d = cli->defaults.find(command); d != cli->defaults.end()) {
    std::vector<std::string> extras = app.remaining(true);
    if (!extras.empty() && extras.front()[0] != '-') {
      return usage_error("unknown command '" + words_of(command) + " " + extras.front() + "'");
    }
    command = d->second;
  }
  const CommandSpec& spec = *cli->specs.at(command);
  if (std::vector<std::string> extras = app.remaining(true); !extras.empty()) {
    if (extras.front()[0] == '-') return usage_error(std::string(spec.words) + ": unknown option " + extras.front());
    return usage_error(expected_operands(spec) + ", got '" + extras.front() + "' too");
  }
  // What the handlers see: the operands in order, and the options given.
  Args args;
  for (const auto& o : spec.operands) args.words.push_back(command->get_option(std::string(o.name))->as<std::string>());
  auto take = [&args](const CLI::Option* option, std::string_view key, bool flag) {
    if (option->count() > 0) args.options[std::string(key)] = flag ? "" : option->as<std::string>();
  };
  for (std::string_view name : spec.options) {
    take(command->get_option(std::string(name)), name, option_spec(name).value.empty());
  }
  for (const auto& g : kGlobals) take(app.get_option(std::string(g.key)), g.key, g.value.empty());
  int exit_code = kExitOk;
  if (!connect(args, &exit_code)) return exit_code;
  return (this->*spec.handler)(args);
}

// ---- backends

int Nibctl::backends_list(const Args&) {
  v1::ListBackendsRequest r;
  r.set_service(service_);
  return call(&v1::Admin::Stub::ListBackends, r, [&](const v1::ListBackendsResponse& resp) {
    std::vector<const v1::Backend*> rows;
    for (const auto& b : resp.backends()) rows.push_back(&b);
    print_backends(out_, rows);
    if (resp.has_emergency()) {
      out_ << "emergency server: " << resp.emergency().address() << ":" << resp.emergency().port() << " ("
           << state_name(resp.emergency()) << ")\n";
    }
  });
}

// Prints one backend the way the list does.
namespace {
void print_one(std::ostream& out, const v1::Backend& b) { print_backends(out, {&b}); }
}  // namespace

int Nibctl::backends_show(const Args& args) {
  auto id = parse_u32(args.words[0]);
  if (!id) return usage_error("backends show: expected a backend id, got '" + args.words[0] + "'");
  v1::GetBackendRequest r;
  r.set_service(service_);
  r.set_id(*id);
  return call(&v1::Admin::Stub::GetBackend, r, [&](const v1::Backend& b) { print_one(out_, b); });
}

namespace {
// --weight, --prio, --soft-limit, --hard-limit, --proxy-protocol and
// --[no-]tcp-fast-open: the settings both add and set take.
struct BackendNumbers {
  std::optional<uint32_t> weight, prio, soft_limit, hard_limit;
  std::optional<v1::ProxyProtocol> proxy_protocol;
  std::optional<bool> tcp_fast_open;
};
std::optional<std::string> backend_numbers(const Nibctl::Args& args, BackendNumbers* out) {
  const bool fast_open = args.options.contains("--tcp-fast-open");
  if (fast_open && args.options.contains("--no-tcp-fast-open")) {
    return "--tcp-fast-open and --no-tcp-fast-open together";
  }
  if (fast_open || args.options.contains("--no-tcp-fast-open")) out->tcp_fast_open = fast_open;
  if (auto it = args.options.find("--proxy-protocol"); it != args.options.end()) {
    v1::ProxyProtocol version{};
    std::string name = "PROXY_PROTOCOL_";
    for (char ch : it->second) name += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!v1::ProxyProtocol_Parse(name, &version)) {
      return "--proxy-protocol: expected v1, v2, off or service, got '" + it->second + "'";
    }
    out->proxy_protocol = version;
  }
  std::pair<const char*, std::optional<uint32_t>*> fields[] = {
      {"--weight", &out->weight}, {"--prio", &out->prio}, {"--soft-limit", &out->soft_limit},
      {"--hard-limit", &out->hard_limit}};
  for (auto [name, field] : fields) {
    auto it = args.options.find(name);
    if (it == args.options.end()) continue;
    *field = parse_u32(it->second);
    if (!*field) return std::string(name) + ": expected a non-negative integer, got '" + it->second + "'";
  }
  return std::nullopt;
}
}  // namespace

int Nibctl::backends_add(const Args& args) {
  HostPort hp;
  auto port = split_host_port(args.words[0], &hp) ? parse_u32(hp.port) : std::nullopt;
  if (!port || hp.host.empty()) {
    return usage_error("backends add: expected IP:PORT ([::1]:80 for IPv6), got '" + args.words[0] + "'");
  }
  BackendNumbers n;
  if (auto error = backend_numbers(args, &n)) return usage_error(*error);
  v1::AddBackendRequest r;
  r.set_service(service_);
  r.set_address(hp.host);
  r.set_port(*port);
  if (n.weight) r.set_weight(*n.weight);
  r.set_prio(n.prio.value_or(0));
  r.set_soft_limit(n.soft_limit.value_or(0));
  r.set_hard_limit(n.hard_limit.value_or(0));
  if (n.proxy_protocol) r.set_proxy_protocol(*n.proxy_protocol);
  r.set_tcp_fast_open(n.tcp_fast_open.value_or(false));
  return call(&v1::Admin::Stub::AddBackend, r, [&](const v1::Backend& b) { print_one(out_, b); });
}

int Nibctl::backends_rm(const Args& args) {
  auto id = parse_u32(args.words[0]);
  if (!id) return usage_error("backends rm: expected a backend id, got '" + args.words[0] + "'");
  v1::RemoveBackendRequest r;
  r.set_service(service_);
  r.set_id(*id);
  return call(&v1::Admin::Stub::RemoveBackend, r, [&](const v1::RemoveBackendResponse&) {
    out_ << "removed backend " << *id << "; its open connections finish\n";
  });
}

int Nibctl::backends_drain(const Args& args) {
  auto id = parse_u32(args.words[0]);
  if (!id) return usage_error("backends drain: expected a backend id, got '" + args.words[0] + "'");
  v1::DrainBackendRequest r;
  r.set_service(service_);
  r.set_id(*id);
  if (auto it = args.options.find("--close-after"); it != args.options.end()) {
    auto seconds = parse_seconds(it->second);
    if (!seconds || !(*seconds >= 0)) {
      return usage_error("--close-after: expected seconds >= 0, got '" + it->second + "'");
    }
    r.set_timeout_seconds(*seconds);
  }
  return call(&v1::Admin::Stub::DrainBackend, r, [&](const v1::Backend& b) {
    print_one(out_, b);
    out_ << "draining backend " << b.id() << ": " << b.active_connections() << " open connection(s) and "
         << b.remembered_clients() << " remembered client(s) still point at it\n";
  });
}

int Nibctl::backends_set(const Args& args) {
  auto id = parse_u32(args.words[0]);
  if (!id) return usage_error("backends set: expected a backend id, got '" + args.words[0] + "'");
  BackendNumbers n;
  if (auto error = backend_numbers(args, &n)) return usage_error(*error);
  bool enable = args.options.contains("--enable"), disable = args.options.contains("--disable");
  if (enable && disable) return usage_error("backends set: --enable and --disable together");
  std::optional<uint32_t> port;
  if (auto it = args.options.find("--port"); it != args.options.end()) {
    port = parse_u32(it->second);
    if (!port) return usage_error("--port: expected a port number, got '" + it->second + "'");
  }
  v1::UpdateBackendRequest r;
  r.set_service(service_);
  r.set_id(*id);
  if (n.weight) r.set_weight(*n.weight);
  if (n.prio) r.set_prio(*n.prio);
  if (n.soft_limit) r.set_soft_limit(*n.soft_limit);
  if (n.hard_limit) r.set_hard_limit(*n.hard_limit);
  if (n.proxy_protocol) r.set_proxy_protocol(*n.proxy_protocol);
  if (n.tcp_fast_open) r.set_tcp_fast_open(*n.tcp_fast_open);
  if (enable || disable) r.set_enabled(enable);
  if (auto it = args.options.find("--address"); it != args.options.end()) r.set_address(it->second);
  if (port) r.set_port(*port);
  return call(&v1::Admin::Stub::UpdateBackend, r, [&](const v1::Backend& b) { print_one(out_, b); });
}

// ---- services, clients, stats, policy

int Nibctl::services(const Args&) {
  return call(&v1::Admin::Stub::ListServices, v1::ListServicesRequest(), [&](const v1::ListServicesResponse& resp) {
    print_services(out_, resp);
  });
}

int Nibctl::clients_list(const Args& args) {
  uint64_t limit = 100;
  if (auto it = args.options.find("--limit"); it != args.options.end()) {
    auto n = parse_uint(it->second);
    if (!n || *n == 0) return usage_error("--limit: expected an integer >= 1, got '" + it->second + "'");
    limit = *n;
  }
  v1::ListClientsRequest r;
  r.set_service(service_);
  if (auto it = args.options.find("--backend"); it != args.options.end()) {
    auto id = parse_u32(it->second);
    if (!id) return usage_error("--backend: expected a backend id, got '" + it->second + "'");
    r.set_backend_id(*id);
  }
  v1::ListClientsResponse all;
  do {
    r.set_page_size(static_cast<uint32_t>(std::min<uint64_t>(limit - all.clients_size(), 1000)));
    v1::ListClientsResponse page;
    grpc::Status s = stub_->ListClients(context().get(), r, &page);
    if (!s.ok()) return rpc_error(s);
    for (auto& c : *page.mutable_clients()) *all.add_clients() = std::move(c);
    all.set_next_page_token(page.next_page_token());
    r.set_page_token(page.next_page_token());
  } while (!r.page_token().empty() && static_cast<uint64_t>(all.clients_size()) < limit);
  if (json()) {
    print_json(all);
    return kExitOk;
  }
  print_clients(out_, {all.clients().begin(), all.clients().end()});
  if (!all.next_page_token().empty()) out_ << "(more clients: --limit N shows more)\n";
  return kExitOk;
}

int Nibctl::clients_forget(const Args& args) {
  v1::ForgetClientRequest r;
  r.set_service(service_);
  r.set_address(args.words[0]);
  return call(&v1::Admin::Stub::ForgetClient, r, [&](const v1::ForgetClientResponse&) {
    out_ << "forgot " << args.words[0] << "\n";
  });
}

int Nibctl::clients_pin(const Args& args) {
  auto id = parse_u32(args.words[1]);
  if (!id) return usage_error("clients pin: expected a backend id, got '" + args.words[1] + "'");
  v1::PinClientRequest r;
  r.set_service(service_);
  r.set_prefix(args.words[0]);
  r.set_backend_id(*id);
  return call(&v1::Admin::Stub::PinClient, r, [&](const v1::PinClientResponse&) {
    out_ << "pinned " << args.words[0] << " to backend " << *id << "\n";
  });
}

int Nibctl::clients_unpin(const Args& args) {
  v1::UnpinClientRequest r;
  r.set_service(service_);
  r.set_prefix(args.words[0]);
  return call(&v1::Admin::Stub::UnpinClient, r, [&](const v1::UnpinClientResponse&) {
    out_ << "unpinned " << args.words[0] << "\n";
  });
}

int Nibctl::clients_pins(const Args&) {
  v1::ListPinsRequest r;
  r.set_service(service_);
  return call(&v1::Admin::Stub::ListPins, r, [&](const v1::ListPinsResponse& resp) { print_pins(out_, resp); });
}

int Nibctl::clients_migrate(const Args& args) {
  auto from = parse_u32(args.words[0]);
  if (!from) return usage_error("clients migrate: expected a backend id, got '" + args.words[0] + "'");
  v1::MigrateClientsRequest r;
  r.set_service(service_);
  r.set_from_backend_id(*from);
  if (auto it = args.options.find("--to"); it != args.options.end()) {
    auto to = parse_u32(it->second);
    if (!to) return usage_error("--to: expected a backend id, got '" + it->second + "'");
    r.set_to_backend_id(*to);
  }
  return call(&v1::Admin::Stub::MigrateClients, r, [&](const v1::MigrateClientsResponse& resp) {
    if (r.has_to_backend_id()) {
      out_ << "moved " << resp.moved() << " client(s) to backend " << r.to_backend_id() << "\n";
    } else {
      out_ << "forgot " << resp.moved() << " client(s); they choose afresh\n";
    }
  });
}

int Nibctl::stats(const Args&) {
  v1::GetStatsRequest r;
  r.set_service(service_);
  return call(&v1::Admin::Stub::GetStats, r, [&](const v1::Stats& resp) { print_stats(out_, resp); });
}

int Nibctl::registry(const Args&) {
  return call(&v1::Admin::Stub::GetRegistry, v1::GetRegistryRequest(),
              [&](const v1::Registry& resp) { print_registry(out_, resp); });
}

int Nibctl::policy_show(const Args&) {
  v1::GetPolicyRequest r;
  r.set_service(service_);
  return call(&v1::Admin::Stub::GetPolicy, r, [&](const v1::Policy& resp) { print_policy(out_, resp); });
}

int Nibctl::policy_set(const Args& args) {
  v1::SetPolicyRequest r;
  r.set_service(service_);
  const auto& o = args.options;
  if (auto it = o.find("--mode"); it != o.end()) {
    auto mode = parse_mode(it->second);
    if (!mode) return usage_error("--mode: expected affinity, roundrobin, hash, weight, prio or maglev, got '" + it->second + "'");
    r.set_mode(*mode);
  }
  if (o.contains("--stubborn") && o.contains("--no-stubborn")) return usage_error("--stubborn and --no-stubborn together");
  if (o.contains("--stubborn") || o.contains("--no-stubborn")) r.set_stubborn(o.contains("--stubborn"));
  if (o.contains("--consistent") && o.contains("--no-consistent")) {
    return usage_error("--consistent and --no-consistent together");
  }
  if (o.contains("--consistent") || o.contains("--no-consistent")) r.set_consistent(o.contains("--consistent"));
  for (auto [name, setter] : {std::pair{"--tracking", &v1::SetPolicyRequest::set_tracking_seconds},
                              std::pair{"--blacklist", &v1::SetPolicyRequest::set_blacklist_seconds},
                              std::pair{"--connect-timeout", &v1::SetPolicyRequest::set_connect_timeout_seconds},
                              std::pair{"--idle-timeout", &v1::SetPolicyRequest::set_idle_timeout_seconds}}) {
    auto it = o.find(name);
    if (it == o.end()) continue;
    auto seconds = parse_seconds(it->second);
    if (!seconds) return usage_error(std::string(name) + ": expected seconds, got '" + it->second + "'");
    (r.*setter)(*seconds);
  }
  if (auto it = o.find("--table-size"); it != o.end()) {
    auto n = parse_uint(it->second);
    if (!n) return usage_error("--table-size: expected an integer, got '" + it->second + "'");
    r.set_table_size(*n);
  }
  for (auto [name, setter] : {std::pair{"--max-connections", &v1::SetPolicyRequest::set_max_connections},
                              std::pair{"--pending-max", &v1::SetPolicyRequest::set_pending_max},
                              std::pair{"--idlers", &v1::SetPolicyRequest::set_idlers}}) {
    auto it = o.find(name);
    if (it == o.end()) continue;
    auto n = parse_uint(it->second);
    if (!n || *n > UINT32_MAX) return usage_error(std::string(name) + ": expected an integer, got '" + it->second + "'");
    (r.*setter)(static_cast<uint32_t>(*n));
  }
  return call(&v1::Admin::Stub::SetPolicy, r, [&](const v1::Policy& resp) { print_policy(out_, resp); });
}

// ---- acl

int Nibctl::acl_show(const Args&) {
  v1::GetClientAclRequest r;
  r.set_service(service_);
  return call(&v1::Admin::Stub::GetClientAcl, r, [&](const v1::ClientAcl& resp) { print_acl(out_, resp); });
}

int Nibctl::acl_set(const Args& args) {
  std::vector<std::string> entries;
  std::istringstream in(args.words[0]);
  for (std::string entry; std::getline(in, entry, ',');) {
    auto words = split_words(entry);  // trimmed, single spaces: what nib parses
    if (words.empty()) return usage_error("acl set: an empty entry in '" + args.words[0] + "' (use 'acl clear')");
    std::string joined;
    for (const auto& w : words) joined += (joined.empty() ? "" : " ") + w;
    entries.push_back(std::move(joined));
  }
  if (entries.empty()) return usage_error("acl set: no entries (use 'acl clear' to serve every client)");
  return set_acl(entries);
}

int Nibctl::acl_clear(const Args&) { return set_acl({}); }

// ---- tls

int Nibctl::tls_show(const Args&) {
  v1::GetTlsRequest r;
  r.set_service(service_);
  return call(&v1::Admin::Stub::GetTls, r, [&](const v1::TlsSettings& resp) { print_tls(out_, resp); });
}

int Nibctl::tls_set(const Args& args) {
  v1::SetTlsRequest r;
  r.set_service(service_);
  const auto& o = args.options;
  using Setter = void (v1::SetTlsRequest::*)(const std::string&);
  for (auto [name, setter] : {std::pair<const char*, Setter>{"--cert", &v1::SetTlsRequest::set_cert_file},
                              {"--key", &v1::SetTlsRequest::set_key_file},
                              {"--ca", &v1::SetTlsRequest::set_ca_file},
                              {"--ca-dir", &v1::SetTlsRequest::set_ca_dir},
                              {"--sni-path", &v1::SetTlsRequest::set_sni_path},
                              {"--min-version", &v1::SetTlsRequest::set_min_version},
                              {"--ciphers", &v1::SetTlsRequest::set_ciphers},
                              {"--client-auth", &v1::SetTlsRequest::set_client_auth},
                              {"--alpn", &v1::SetTlsRequest::set_alpn},
                              {"--ocsp-response", &v1::SetTlsRequest::set_ocsp_response_file}}) {
    if (auto it = o.find(name); it != o.end()) (r.*setter)(it->second);
  }
  const bool prefer = o.contains("--prefer-server-ciphers"), no_prefer = o.contains("--no-prefer-server-ciphers");
  if (prefer && no_prefer) return usage_error("--prefer-server-ciphers and --no-prefer-server-ciphers together");
  if (prefer || no_prefer) r.set_prefer_server_ciphers(prefer);
  return call(&v1::Admin::Stub::SetTls, r, [&](const v1::TlsSettings& resp) { print_tls(out_, resp); });
}

int Nibctl::tls_reload(const Args&) {
  v1::ReloadTlsRequest r;
  r.set_service(service_);
  return call(&v1::Admin::Stub::ReloadTls, r, [&](const v1::TlsSettings& resp) { print_tls(out_, resp); });
}

int Nibctl::set_acl(const std::vector<std::string>& entries) {
  v1::SetClientAclRequest r;
  r.set_service(service_);
  for (const auto& e : entries) r.add_entries(e);
  return call(&v1::Admin::Stub::SetClientAcl, r, [&](const v1::ClientAcl& resp) { print_acl(out_, resp); });
}

// ---- watch

int Nibctl::watch(const Args&) {
  v1::WatchEventsRequest r;
  r.set_service(service_);
  grpc::ClientContext ctx;  // no deadline: a watch lasts until Ctrl-C
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  auto reader = stub_->WatchEvents(&ctx, r);
  v1::Event event;
  while (reader->Read(&event)) {
    if (json()) {
      out_ << to_json(event, /*compact=*/true) << std::endl;
    } else {
      print_event(out_, event);
    }
  }
  grpc::Status s = reader->Finish();
  if (s.ok()) return kExitOk;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE && s.error_message().find("stopping") != std::string::npos) {
    err_ << "nibctl: nib is shutting down; the watch ended\n";
    return kExitFailed;
  }
  return rpc_error(s);
}

}  // namespace nib::nibctl
