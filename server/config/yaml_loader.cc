#include "server/config/yaml_loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <sstream>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "dataplane/log/access_line_format.h"
#include "server/config/config_values.h"

namespace nib {
namespace {

// Past this many, later errors are mostly echoes of the first ones.
constexpr size_t kMaxErrors = 20;

// The keys each mapping accepts, in the order the reference documents them (the
// order "expected one of" lists them in).
constexpr std::string_view kRootKeys[] = {"workers", "event_loop", "shutdown_grace", "services", "admin",
                                          "access_log", "user", "chroot", "registry", "relay"};
constexpr std::string_view kRegistryKeys[] = {"store", "endpoints", "prefix", "tls", "auth"};
constexpr std::string_view kRegistryTlsKeys[] = {"ca", "cert", "key"};
constexpr std::string_view kRegistryAuthKeys[] = {"user", "password_file"};
constexpr std::string_view kAccessLogKeys[] = {"path", "udp", "format", "template", "ring_size"};
constexpr std::string_view kAdminKeys[] = {"enabled",      "http_listen", "grpc_listen",   "token_file",
                                           "tls_cert_file", "tls_key_file", "state_file", "penctl_listen",
                                           "limits"};
// admin.limits: one mapping per plane; their keys are the rows of
// admin/common/admin_limits.h's table ("http.max_connections").
constexpr std::string_view kAdminLimitPlanes[] = {"http", "grpc", "penctl"};
constexpr std::string_view kServiceKeys[] = {"name",      "listen",          "protocol",     "policy",
                                             "backends",  "backends_from", "emergency",       "connect_timeout",
                                             "idle_timeout", "max_connections", "pending_max", "idlers", "backlog",
                                             "defer_accept", "reuse_port", "session_timeout", "max_sessions",
                                             "health_check", "slow_start", "drain_timeout", "acl", "tcp_nodelay",
                                             "tcp_fastclose", "keepalive", "abuse", "source", "transparent",
                                             "dsr_interface", "tarpit",
                                             "http", "http_forwarded", "proxy_protocol", "accept_proxy_protocol",
                                             "dummy", "tls", "backend_tls"};
// Keys that mean something for one protocol only: given for the other, they
// would silently do nothing, so they are errors.
constexpr std::string_view kTcpOnlyKeys[] = {"connect_timeout", "idle_timeout", "max_connections", "pending_max", "idlers", "backlog",
                                             "defer_accept",    "tcp_nodelay",     "tcp_fastclose",
                                             "keepalive",       "accept_proxy_protocol",
                                             "http",            "http_forwarded",  "dummy", "tls", "backend_tls"};
constexpr std::string_view kUdpOnlyKeys[] = {"session_timeout", "max_sessions"};
constexpr std::string_view kTlsKeys[] = {"cert",    "key",         "ca",      "ca_dir",
                                         "sni_path", "min_version", "ciphers", "client_auth",
                                         "prefer_server_ciphers", "handshake_timeout", "watch_interval",
                                         "alpn",     "ocsp_response"};
constexpr std::string_view kBackendTlsKeys[] = {"verify", "ca",  "ca_dir",      "server_name",
                                                "cert",   "key", "min_version", "ciphers"};
constexpr std::string_view kPolicyKeys[] = {"mode", "stubborn", "consistent", "tracking", "blacklist", "table_size"};
constexpr std::string_view kBackendKeys[] = {"address", "port",   "soft_limit",
                                             "hard_limit", "weight", "prio", "proxy_protocol", "tcp_fast_open",
                                             "health_check"};
constexpr std::string_view kHealthCheckKeys[] = {"type", "interval", "timeout", "rise", "fall", "jitter",
                                                 "method", "path", "host", "expect_status", "expect_body",
                                                 "source", "send", "expect", "expect_regex"};
// rise/fall: counts of consecutive checks; jitter: a fraction of the interval.
constexpr IntRange kRiseFall{1, 1000};
constexpr SecondsRange kCheckInterval{0, true, 86400};
constexpr SecondsRange kCheckTimeout{0, true, 3600};
constexpr std::string_view kListenKeys[] = {"address", "port"};
// backends_from: {dns: NAME, port: N, interval: 5s, resolver: IP:PORT, type: a|aaaa|srv}
constexpr std::string_view kBackendsFromKeys[] = {"dns", "port", "interval", "resolver", "type"};
// Sub-second for tests; a day at most.
constexpr SecondsRange kDiscoveryInterval{0.05, false, 86400};

using Keys = std::span<const std::string_view>;

// A check's defaults: a udp service's check is a udp one unless it says otherwise.
HealthCheckConfig default_check(Protocol protocol) {
  HealthCheckConfig c;
  if (protocol == Protocol::kUdp) c.type = HealthCheckType::kUdp;
  return c;
}

// A node and where to point at it. An empty value gets its key's mark: yaml-cpp
// marks it at the *next* token, which may be lines further down.
struct Item {
  YAML::Node node;
  std::string path;
  YAML::Mark mark;
};

std::string child_path(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

// "got ..." in messages.
std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Map: return "a mapping";
    default: return "an empty value";
  }
}

std::string join(Keys keys) {
  std::string out;
  for (auto k : keys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

int line_of(const YAML::Mark& mark) { return mark.is_null() ? 1 : mark.line + 1; }
int column_of(const YAML::Mark& mark) { return mark.is_null() ? 1 : mark.column + 1; }

// The entries of one mapping that passed the key check.
class Fields {
 public:
  void add(std::string key, Item item) { items_.emplace_back(std::move(key), std::move(item)); }
  const Item* get(std::string_view key) const {
    for (const auto& [k, item] : items_) {
      if (k == key) return &item;
    }
    return nullptr;
  }

 private:
  std::vector<std::pair<std::string, Item>> items_;
};

// What the cross-service checks remember: where each name and listener was first seen.
struct SeenServices {
  std::map<std::string, int> names;                            // name -> line
  std::map<std::string, std::pair<std::string, int>> listens;  // protocol/address -> service, line
};

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}
  Result<AppConfig> load(std::string_view text);

 private:
  void error(const YAML::Mark& mark, const std::string& path, const std::string& message);
  void error_at(const Item& item, const std::string& message) { error(item.mark, item.path, message); }
  Status collected_errors() const;

  Fields fields(const Item& map, Keys allowed, Keys required);
  std::vector<Item> sequence(const Item& item, const std::string& expected);
  std::optional<std::string> scalar(const Item& item, const std::string& expected);
  template <typename T>
  void read_int(const Fields& f, std::string_view key, IntRange range, T* out);
  void read_seconds(const Fields& f, std::string_view key, SecondsRange range, double* out);
  void read_bool(const Fields& f, std::string_view key, bool* out);
  std::optional<uint16_t> read_port(const Item& item);
  // A word from a fixed list (`choices`, as the error shows it): parse's
  // value, or nullopt after an error that names the list.
  template <typename Parse>
  auto read_choice(const Item& item, const std::string& choices, Parse parse)
      -> decltype(parse(std::string_view{}));
  // The same for an enum whose words are its to_string(): the list the error
  // names and the parse both come from `values`.
  template <typename E>
  std::optional<E> read_named(const Item& item, std::initializer_list<E> values);

  void load_root(const Item& root, AppConfig* config);
  void load_admin(const Item& item, AdminConfig* admin);
  void load_registry(const Item& item, RegistryConfig* registry);
  void load_access_log(const Item& item, AccessLogConfig* log);
  void load_admin_limits(const Item& item, admin::AdminLimits* limits);
  void read_admin_listen(const Fields& f, std::string_view key, std::string* out);
  // A non-empty file name; the file itself is read by whoever uses it.
  // A non-empty scalar: "a file name", "a user name", "a directory".
  void read_file_name(const Fields& f, std::string_view key, std::string* out,
                      const std::string& what = "a file name");
  void load_service(const Item& item, SeenServices* seen, AppConfig* config);
  void load_backends_from(const Item& item, const std::string& service, std::vector<DnsDiscoveryConfig>* out);
  void load_name(const Item& item, SeenServices* seen, ServiceConfig* service);
  bool load_protocol(const Item& item, ServiceConfig* service);
  void check_protocol_keys(const Fields& f, Protocol protocol);
  std::optional<Endpoint> load_address(const Item& item, bool host_required);
  void load_listen(const Item& item, SeenServices* seen, ServiceConfig* service);
  void load_policy(const Item& item, PolicyConfig* policy);
  void load_tls(const Item& item, TlsConfig* tls);
  void load_backend_tls(const Item& item, BackendTlsConfig* tls);
  // min_version and ciphers, as tls and backend_tls spell them.
  void read_tls_version(const Fields& f, std::string* min_version);
  void read_tls_ciphers(const Fields& f, std::string* ciphers);
  void load_backends(const Item& item, ServiceConfig* service);
  void load_acl(const Item& item, AccessList* acl);
  void load_proxy_protocol(const Fields& f, ServiceConfig* service);
  std::optional<ProxyProtocol> read_proxy_protocol(const Item& item, Protocol protocol);
  std::optional<BackendConfig> load_backend(const Item& item, const std::optional<HealthCheckConfig>& service_check,
                                            Protocol protocol);
  // `base` holds the defaults: the service's check when a backend overrides it.
  std::optional<HealthCheckConfig> load_health_check(const Item& item, const HealthCheckConfig& base,
                                                     Protocol protocol);

  std::string source_;
  std::vector<std::string> errors_;
  size_t dropped_errors_ = 0;
};

void Loader::error(const YAML::Mark& mark, const std::string& path, const std::string& message) {
  if (errors_.size() >= kMaxErrors) {
    ++dropped_errors_;
    return;
  }
  std::string where = source_ + ":" + std::to_string(line_of(mark)) + ":" + std::to_string(column_of(mark)) + ": ";
  errors_.push_back(where + (path.empty() ? "" : path + ": ") + message);
}

Status Loader::collected_errors() const {
  std::string text;
  for (const auto& e : errors_) text += (text.empty() ? "" : "\n") + e;
  if (dropped_errors_ > 0) text += "\n(" + std::to_string(dropped_errors_) + " more errors not shown)";
  return Status::invalid(text);
}

// Debian's yaml-cpp 0.7 never returns from some malformed input: a ',' at
// the start of a block document (",\n" alone) makes its parser emit null
// nodes forever, each one allocated (found by fuzz/yaml_loader_fuzzer: --check
// or a SIGHUP reload spun a core and took a gigabyte a few seconds). A
// document of n bytes has at most about 2n events (a "[" opens and closes a
// sequence), so this dry run of the parser counts them and stops it past a
// bound that only such a loop reaches, before the real load builds nodes.
class EventBudget : public YAML::EventHandler {
 public:
  explicit EventBudget(size_t bytes) : left_(4 * bytes + 64) {}
  void OnDocumentStart(const YAML::Mark& m) override { spend(m); }
  void OnDocumentEnd() override { spend(last_); }
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { spend(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { spend(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { spend(m); }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    spend(m);
  }
  void OnSequenceEnd() override { spend(last_); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    spend(m);
  }
  void OnMapEnd() override { spend(last_); }

 private:
  void spend(const YAML::Mark& m) {
    last_ = m;
    if (left_-- == 0) {
      throw YAML::ParserException(m, "the parser does not advance here (a ',' outside [ ] or { }?)");
    }
  }
  size_t left_;
  YAML::Mark last_ = YAML::Mark::null_mark();
};

Result<AppConfig> Loader::load(std::string_view text) {
  std::vector<YAML::Node> documents;
  try {
    {
      std::istringstream in{std::string(text)};
      YAML::Parser parser(in);
      EventBudget budget(text.size());
      while (parser.HandleNextDocument(budget)) {
      }
    }
    documents = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    error(e.mark, "", "invalid YAML: " + e.msg);
    return collected_errors();
  }
  if (documents.empty() || documents[0].IsNull()) {
    error(YAML::Mark::null_mark(), "", "the file is empty; expected a mapping with a 'services' list");
    return collected_errors();
  }
  if (documents.size() > 1) {
    error(documents[1].Mark(), "", "expected one YAML document, found " + std::to_string(documents.size()));
  }
  AppConfig config;
  try {
    load_root(Item{documents[0], "", documents[0].Mark()}, &config);
  } catch (const YAML::Exception& e) {  // not expected: every node is type-checked before use
    error(e.mark, "", e.msg);
  }
  if (!errors_.empty()) return collected_errors();
  // Backstop for the cross-field rules; the checks above already name lines for them.
  if (Status s = validate(config.dataplane); !s.ok()) return Status::invalid(source_ + ": " + s.message());
  return config;
}

// Reports unknown, duplicate and missing keys; the returned fields hold the rest.
Fields Loader::fields(const Item& map, Keys allowed, Keys required) {
  Fields out;
  if (map.node.IsNull()) {  // "policy:" with everything commented out means all defaults
    for (auto key : required) error_at(map, "missing required key '" + std::string(key) + "'");
    return out;
  }
  if (!map.node.IsMap()) {
    error_at(map, "expected a mapping with keys " + join(allowed) + "; got " + describe_node(map.node));
    return out;
  }
  std::map<std::string, int> seen;  // key -> line
  for (const auto& entry : map.node) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      error(key.Mark(), map.path, "expected a key name, got " + describe_node(key));
      continue;
    }
    const std::string& name = key.Scalar();
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      error(key.Mark(), map.path, "unknown key '" + name + "', expected one of: " + join(allowed));
      continue;
    }
    auto [it, inserted] = seen.emplace(name, line_of(key.Mark()));
    if (!inserted) {
      error(key.Mark(), map.path, "duplicate key '" + name + "' (first at line " + std::to_string(it->second) + ")");
      continue;
    }
    YAML::Mark mark = entry.second.IsNull() ? key.Mark() : entry.second.Mark();
    out.add(name, Item{entry.second, child_path(map.path, name), mark});
  }
  for (auto key : required) {
    if (!seen.contains(std::string(key))) error_at(map, "missing required key '" + std::string(key) + "'");
  }
  return out;
}

// An empty value counts as an empty sequence, like an empty mapping above.
std::vector<Item> Loader::sequence(const Item& item, const std::string& expected) {
  std::vector<Item> out;
  if (item.node.IsNull()) return out;
  if (!item.node.IsSequence()) {
    error_at(item, "expected " + expected + ", got " + describe_node(item.node));
    return out;
  }
  for (size_t i = 0; i < item.node.size(); ++i) {
    YAML::Node child = item.node[i];
    out.push_back(Item{child, index_path(item.path, i), child.IsNull() ? item.mark : child.Mark()});
  }
  return out;
}

std::optional<std::string> Loader::scalar(const Item& item, const std::string& expected) {
  if (item.node.IsScalar()) return item.node.Scalar();
  error_at(item, "expected " + expected + ", got " + describe_node(item.node));
  return std::nullopt;
}

// Numbers are read from the scalar's text, quoted or not: "8080" is as good as 8080.
template <typename T>
void Loader::read_int(const Fields& f, std::string_view key, IntRange range, T* out) {
  const Item* item = f.get(key);
  if (item == nullptr) return;
  auto text = scalar(*item, describe(range));
  if (!text) return;
  auto value = parse_int(*text, range);
  if (!value.ok()) return error_at(*item, value.status().message());
  *out = static_cast<T>(*value);
}

void Loader::read_seconds(const Fields& f, std::string_view key, SecondsRange range, double* out) {
  const Item* item = f.get(key);
  if (item == nullptr) return;
  auto text = scalar(*item, describe(range));
  if (!text) return;
  auto value = parse_seconds(*text, range);
  if (!value.ok()) return error_at(*item, value.status().message());
  *out = *value;
}

// Whatever yaml-cpp decodes as a bool (true/false, yes/no, on/off) is accepted.
void Loader::read_bool(const Fields& f, std::string_view key, bool* out) {
  const Item* item = f.get(key);
  if (item == nullptr) return;
  bool value = false;
  if (!item->node.IsScalar() || !YAML::convert<bool>::decode(item->node, value)) {
    return error_at(*item, "expected true or false, got " + describe_node(item->node));
  }
  *out = value;
}

std::optional<uint16_t> Loader::read_port(const Item& item) {
  auto text = scalar(item, describe(limits::kPort));
  if (!text) return std::nullopt;
  auto port = parse_int(*text, limits::kPort);
  if (!port.ok()) {
    error_at(item, port.status().message());
    return std::nullopt;
  }
  return static_cast<uint16_t>(*port);
}

template <typename Parse>
auto Loader::read_choice(const Item& item, const std::string& choices, Parse parse)
    -> decltype(parse(std::string_view{})) {
  auto text = scalar(item, "one of: " + choices);
  if (!text) return std::nullopt;
  auto parsed = parse(*text);
  if (!parsed) error_at(item, "expected one of: " + choices + "; got '" + *text + "'");
  return parsed;
}

template <typename E>
std::optional<E> Loader::read_named(const Item& item, std::initializer_list<E> values) {
  std::string choices;
  for (E v : values) choices += (choices.empty() ? "" : ", ") + std::string(to_string(v));
  return read_choice(item, choices, [&](std::string_view word) -> std::optional<E> {
    for (E v : values) {
      if (word == to_string(v)) return v;
    }
    return std::nullopt;
  });
}

void Loader::load_root(const Item& root, AppConfig* config) {
  Fields f = fields(root, kRootKeys, std::array<std::string_view, 1>{"services"});
  read_int(f, "workers", limits::kWorkers, &config->dataplane.workers);
  if (const Item* loop = f.get("event_loop")) {
    if (auto backend = read_choice(*loop, "epoll, io_uring", parse_loop_backend)) {
      config->dataplane.event_loop = *backend;
    }
  }
  if (const Item* relay = f.get("relay")) {
    if (auto mode = read_choice(*relay, "splice, sockmap", parse_relay_mode)) config->dataplane.relay = *mode;
  }
  read_seconds(f, "shutdown_grace", limits::kSeconds, &config->shutdown_grace_seconds);
  if (const Item* admin = f.get("admin")) load_admin(*admin, &config->admin);
  if (const Item* registry = f.get("registry")) load_registry(*registry, &config->registry);
  if (const Item* log = f.get("access_log")) load_access_log(*log, &config->dataplane.access_log);
  // Pen's -u and -j (server/privilege_drop.h); the command line's win.
  read_file_name(f, "user", &config->user, "a user name");
  read_file_name(f, "chroot", &config->jail, "a directory");
  const Item* services = f.get("services");
  if (services == nullptr) return;
  auto items = sequence(*services, "a sequence of services");
  if (items.empty() && (services->node.IsNull() || services->node.IsSequence())) {
    error_at(*services, "expected at least one service, got none");
  }
  SeenServices seen;
  for (const auto& item : items) load_service(item, &seen, config);
}

// registry: the state replicas share (server/config/registry_config.h).
void Loader::load_registry(const Item& item, RegistryConfig* registry) {
  Fields f = fields(item, kRegistryKeys, std::array<std::string_view, 1>{"endpoints"});
  if (const Item* store = f.get("store")) {
    auto text = scalar(*store, "etcd");
    if (text && *text != "etcd") error_at(*store, "expected etcd (the only store), got '" + *text + "'");
  }
  if (const Item* endpoints = f.get("endpoints")) {
    auto items = sequence(*endpoints, "a sequence of etcd endpoints (http://HOST:PORT)");
    if (items.empty() && (endpoints->node.IsNull() || endpoints->node.IsSequence())) {
      error_at(*endpoints, "expected at least one etcd endpoint, got none");
    }
    for (const auto& e : items) {
      auto text = scalar(e, "an etcd endpoint (http://HOST:PORT)");
      if (!text) continue;
      auto parsed = parse_etcd_endpoint(*text);
      if (!parsed.ok()) {
        error_at(e, parsed.status().message());
      } else if (!registry->endpoints.empty() && parsed->tls != registry->tls()) {
        error_at(e, "expected the same scheme as the first endpoint (all http:// or all https://), got '" + *text + "'");
      } else {
        registry->endpoints.push_back(*text);
      }
    }
  }
  if (const Item* prefix = f.get("prefix")) {
    auto text = scalar(*prefix, "a key prefix (/nib/)");
    if (text && (text->size() < 2 || text->front() != '/' || text->back() != '/' || text->size() > limits::kPathBytes)) {
      error_at(*prefix, "expected a key prefix starting and ending with '/' (/nib/), got '" + *text + "'");
    } else if (text) {
      registry->prefix = *text;
    }
  }
  if (const Item* tls = f.get("tls")) {
    Fields t = fields(*tls, kRegistryTlsKeys, {});
    read_file_name(t, "ca", &registry->tls_ca_file);
    read_file_name(t, "cert", &registry->tls_cert_file);
    read_file_name(t, "key", &registry->tls_key_file);
    if (registry->tls_cert_file.empty() != registry->tls_key_file.empty()) {
      error_at(*tls, std::string("expected both cert and key for a client certificate, got only ") +
                         (registry->tls_cert_file.empty() ? "key" : "cert"));
    }
    if (!registry->endpoints.empty() && !registry->tls()) {
      error_at(*tls, "the endpoints are http://; TLS needs https:// endpoints");
    }
  }
  if (const Item* auth = f.get("auth")) {
    Fields a = fields(*auth, kRegistryAuthKeys, std::array<std::string_view, 2>{"user", "password_file"});
    read_file_name(a, "user", &registry->user, "an etcd user name");
    read_file_name(a, "password_file", &registry->password_file);
  }
}

void Loader::load_admin(const Item& item, AdminConfig* admin) {
  Fields f = fields(item, kAdminKeys, {});
  read_bool(f, "enabled", &admin->enabled);
  read_admin_listen(f, "http_listen", &admin->http_listen);
  read_admin_listen(f, "grpc_listen", &admin->grpc_listen);
  // Read when the admin plane starts (their errors name the file).
  read_file_name(f, "token_file", &admin->token_file);
  read_file_name(f, "tls_cert_file", &admin->tls_cert_file);
  read_file_name(f, "tls_key_file", &admin->tls_key_file);
  if (admin->tls_cert_file.empty() != admin->tls_key_file.empty()) {
    error_at(item, std::string("expected both tls_cert_file and tls_key_file for admin TLS, got only ") +
                       (admin->tls_cert_file.empty() ? "tls_key_file" : "tls_cert_file"));
  }
  read_file_name(f, "state_file", &admin->state_file);
  if (const Item* limits = f.get("limits")) load_admin_limits(*limits, &admin->limits);
  if (const Item* penctl = f.get("penctl_listen")) {
    // Pen's control port: an IP literal and a port, like the other listeners,
    // or a Unix socket path as Pen's -C allows.
    auto text = scalar(*penctl, "IP:PORT or /path/to/socket");
    if (text && text->starts_with('/')) {
      admin->penctl_listen = *text;
    } else if (text) {
      auto address = SocketAddress::parse(*text);
      if (!address.ok() || address->port() == 0) {
        error_at(*penctl, "expected IP:PORT with a port 1-65535 or a /path/to/socket, got '" + *text + "'");
      } else {
        admin->penctl_listen = address->to_string();
      }
    }
  }
}

void Loader::load_access_log(const Item& item, AccessLogConfig* log) {
  Fields f = fields(item, kAccessLogKeys, {});
  read_file_name(f, "path", &log->path);
  if (const Item* udp = f.get("udp")) {
    // An IP literal: the writer thread sends to it without resolving names.
    auto text = scalar(*udp, "IP:PORT");
    auto address = text ? SocketAddress::parse(*text) : Result<SocketAddress>(Status::invalid(""));
    if (text && (!address.ok() || address->port() == 0)) {
      error_at(*udp, "expected IP:PORT with a port 1-65535, got '" + *text + "'");
    } else if (text) {
      log->udp = address->to_string();
    }
  }
  if (!log->path.empty() && !log->udp.empty()) error_at(item, "expected path or udp, got both");
  if (log->path.empty() && log->udp.empty()) error_at(item, "expected path (a file) or udp (IP:PORT)");
  if (const Item* format = f.get("format")) {
    using enum AccessLogFormat;
    if (auto parsed = read_named(*format, {kPen, kJson, kTemplate})) log->format = *parsed;
  }
  const Item* tmpl = f.get("template");
  if (tmpl) {
    if (auto text = scalar(*tmpl, "a line with {field} placeholders")) log->template_text = *text;
    if (log->format != AccessLogFormat::kTemplate) error_at(*tmpl, "a template needs format: template");
  }
  if (log->format == AccessLogFormat::kTemplate) {
    // The dataplane's own parser: the same errors here, with a line number, as at start.
    auto parsed = AccessLineFormat::make(log->format, log->template_text, false);
    if (!parsed.ok()) {
      // The path names the key already: drop the message's own "access_log: template: ".
      std::string message = parsed.status().message();
      constexpr std::string_view kPrefix = "access_log: template: ";
      if (message.starts_with(kPrefix)) message.erase(0, kPrefix.size());
      error_at(tmpl ? *tmpl : item, message);
    }
  }
  read_int(f, "ring_size", limits::kAccessLogRing, &log->ring_size);
}

void Loader::load_admin_limits(const Item& item, admin::AdminLimits* limits) {
  Fields planes = fields(item, kAdminLimitPlanes, {});
  for (std::string_view plane : kAdminLimitPlanes) {
    const Item* section = planes.get(plane);
    if (section == nullptr) continue;
    std::vector<std::pair<std::string_view, const admin::AdminLimitSpec*>> rows;  // the plane's, by key
    for (const auto& row : admin::admin_limit_table()) {
      if (row.key.size() > plane.size() && row.key.starts_with(plane) && row.key[plane.size()] == '.') {
        rows.emplace_back(row.key.substr(plane.size() + 1), &row);
      }
    }
    std::vector<std::string_view> keys;
    for (const auto& [key, row] : rows) keys.push_back(key);
    Fields f = fields(*section, keys, {});
    for (const auto& [key, row] : rows) {
      if (row->count) read_int(f, key, row->count_range, row->count(*limits));
      if (row->seconds) read_seconds(f, key, row->seconds_range, row->seconds(*limits));
    }
  }
}

// An IP literal and a port (0: any free port): the admin plane never waits on DNS.
void Loader::read_admin_listen(const Fields& f, std::string_view key, std::string* out) {
  const Item* item = f.get(key);
  if (item == nullptr) return;
  constexpr const char* kExpected = "IP:port such as 127.0.0.1:9902 (\"[::1]:9902\" for IPv6)";
  auto text = scalar(*item, kExpected);
  if (!text) return;
  if (!SocketAddress::parse(*text).ok()) return error_at(*item, std::string("expected ") + kExpected + ", got '" + *text + "'");
  *out = *text;
}

void Loader::read_file_name(const Fields& f, std::string_view key, std::string* out, const std::string& what) {
  const Item* item = f.get(key);
  if (item == nullptr) return;
  auto path = scalar(*item, what);
  if (path && path->empty()) error_at(*item, "expected " + what + ", got an empty value");
  if (path && !path->empty()) *out = *path;
}

void Loader::load_service(const Item& item, SeenServices* seen, AppConfig* config) {
  DataplaneConfig* dataplane = &config->dataplane;
  Fields f = fields(item, kServiceKeys, std::array<std::string_view, 2>{"name", "listen"});
  ServiceConfig service;
  if (const Item* name = f.get("name")) load_name(*name, seen, &service);
  const Item* protocol = f.get("protocol");
  // A protocol that did not parse would make every protocol-specific key an echo of that error.
  if (protocol == nullptr || load_protocol(*protocol, &service)) check_protocol_keys(f, service.protocol);
  if (const Item* listen = f.get("listen")) load_listen(*listen, seen, &service);
  if (const Item* policy = f.get("policy")) load_policy(*policy, &service.policy);
  // Before the backends: their overrides start from it.
  if (const Item* check = f.get("health_check")) {
    service.health_check = load_health_check(*check, default_check(service.protocol), service.protocol);
  }
  if (const Item* backends = f.get("backends")) load_backends(*backends, &service);
  if (const Item* from = f.get("backends_from")) load_backends_from(*from, service.name, &config->backends_from);
  // The emergency server and Pen's abuse server (-B, for clients the acl
  // denies): each an address with a host, resolved once.
  for (auto [key, server] : {std::pair{"emergency", &service.emergency}, std::pair{"abuse", &service.abuse}}) {
    const Item* item = f.get(key);
    if (item == nullptr) continue;
    if (auto endpoint = load_address(*item, /*host_required=*/true)) {
      *server = BackendConfig{.host = endpoint->host, .address = endpoint->address};
    }
  }
  read_seconds(f, "connect_timeout", limits::kConnectTimeout, &service.policy.connect_timeout_seconds);
  read_seconds(f, "idle_timeout", limits::kSeconds, &service.policy.idle_timeout_seconds);
  read_int(f, "max_connections", limits::kMaxConnections, &service.policy.max_connections);
  read_int(f, "pending_max", limits::kPendingMax, &service.policy.pending_max);
  read_int(f, "idlers", limits::kIdlers, &service.policy.idlers);
  read_int(f, "backlog", limits::kBacklog, &service.backlog);
  read_bool(f, "defer_accept", &service.defer_accept);
  read_bool(f, "tcp_nodelay", &service.tcp_nodelay);
  read_bool(f, "keepalive", &service.keepalive);
  if (const Item* fast = f.get("tcp_fastclose")) {
    if (auto sides = read_choice(*fast, "off, up, down, both", parse_fast_close)) service.tcp_fastclose = *sides;
  }
  if (const Item* source = f.get("source")) {
    constexpr const char* kExpected = "an IPv4 or IPv6 address (no port)";
    auto text = scalar(*source, kExpected);
    Result<SocketAddress> ip = Status::invalid("");
    if (text) ip = SocketAddress::from_ip(*text, 0);
    if (ip.ok()) {
      service.source = *ip;
    } else if (text) {
      error_at(*source, std::string("expected ") + kExpected + ", got '" + *text + "'");
    }
  }
  read_bool(f, "transparent", &service.transparent);
  read_bool(f, "http", &service.http);
  read_bool(f, "dummy", &service.dummy);
  read_bool(f, "http_forwarded", &service.http_forwarded);
  read_bool(f, "reuse_port", &service.reuse_port);
  read_seconds(f, "session_timeout", limits::kSessionTimeout, &service.udp_session_timeout_seconds);
  read_int(f, "max_sessions", limits::kMaxSessions, &service.udp_max_sessions);
  read_seconds(f, "slow_start", limits::kSlowStart, &service.slow_start_seconds);
  read_seconds(f, "drain_timeout", limits::kSeconds, &service.drain_timeout_seconds);
  if (const Item* acl = f.get("acl")) load_acl(*acl, &service.client_acl);
  if (const Item* tarpit = f.get("tarpit")) load_acl(*tarpit, &service.tarpit);
  if (const Item* dsr = f.get("dsr_interface")) {
    if (auto name = scalar(*dsr, "an interface name")) {
      if (name->empty() || name->size() >= 16) {
        error_at(*dsr, "expected an interface name (1-15 characters), got '" + *name + "'");
      } else {
        service.dsr_interface = *name;
      }
    }
  }
  load_proxy_protocol(f, &service);
  if (const Item* tls = f.get("tls")) load_tls(*tls, &service.tls);
  if (const Item* tls = f.get("backend_tls")) load_backend_tls(*tls, &service.backend_tls);
  // Once every key is read: the path's rules involve protocol, transparent...
  if (const Item* listen = f.get("listen"); listen && !service.listen_path.empty()) {
    if (Status st = check_listen_path(service); !st.ok()) error_at(*listen, st.message());
  }
  dataplane->services.push_back(std::move(service));
}

// A DNS name as a resolver takes it: 1-253 characters, labels of 1-63 letters,
// digits, '-' and '_' (SRV names: _http._tcp.web), an optional final dot.
bool is_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

// "5", "0.2", "5s" or "200ms".
Result<double> parse_interval(std::string_view text) {
  std::string_view number = text;
  double scale = 1;
  if (number.ends_with("ms")) {
    number.remove_suffix(2);
    scale = 0.001;
  } else if (number.ends_with("s")) {
    number.remove_suffix(1);
  }
  auto value = parse_seconds(number, SecondsRange{0, false, kMaxSeconds});
  const double seconds = value.ok() ? *value * scale : -1;
  if (!value.ok() || !kDiscoveryInterval.contains(seconds)) {
    return Status::invalid("expected an interval of 0.05-86400 seconds (\"5\", \"5s\", \"200ms\"), got '" +
                           std::string(text) + "'");
  }
  return seconds;
}

// backends_from: the service's backends come from DNS records
// (server/discovery/dns_discovery.h), besides its `backends`.
void Loader::load_backends_from(const Item& item, const std::string& service, std::vector<DnsDiscoveryConfig>* out) {
  Fields f = fields(item, kBackendsFromKeys, std::array<std::string_view, 1>{"dns"});
  if (!item.node.IsMap()) return;  // fields() said so
  DnsDiscoveryConfig c;
  c.service = service;
  bool ok = f.get("dns") != nullptr;
  if (const Item* type = f.get("type")) {
    auto parse = [](std::string_view word) -> std::optional<DnsRecordType> {
      if (word == "a" || word == "A") return DnsRecordType::kA;
      if (word == "aaaa" || word == "AAAA") return DnsRecordType::kAaaa;
      if (word == "srv" || word == "SRV") return DnsRecordType::kSrv;
      return std::nullopt;
    };
    if (auto parsed = read_choice(*type, "a, aaaa, srv", parse)) c.type = *parsed;
    else ok = false;
  }
  if (const Item* dns = f.get("dns")) {
    auto name = scalar(*dns, "a DNS name");
    if (name && !is_dns_name(*name)) {
      error_at(*dns, "expected a DNS name (labels of letters, digits, '-' and '_' joined by dots), got '" + *name + "'");
      ok = false;
    }
    if (name) c.name = *name;
  }
  const Item* port = f.get("port");
  if (c.type == DnsRecordType::kSrv && port != nullptr) {
    error_at(*port, "SRV records carry their own ports; remove port (or use type: a or aaaa)");
  } else if (port != nullptr) {
    if (auto p = read_port(*port)) c.port = *p;
  } else if (c.type != DnsRecordType::kSrv) {
    error_at(item, "missing required key 'port' (A and AAAA records have no port)");
  }
  if (const Item* interval = f.get("interval")) {
    if (auto text = scalar(*interval, "an interval in seconds")) {
      auto seconds = parse_interval(*text);
      if (seconds.ok()) c.interval_seconds = *seconds;
      else error_at(*interval, seconds.status().message());
    }
  }
  if (const Item* resolver = f.get("resolver")) {
    constexpr const char* kExpected = "expected an IPv4 address and port (127.0.0.1:5353)";
    if (auto text = scalar(*resolver, "an IPv4 address and port")) {
      auto address = SocketAddress::parse(*text);
      if (!address.ok() || address->family() != AF_INET || address->port() == 0) {
        error_at(*resolver, std::string(kExpected) + ", got '" + *text + "'");
      } else {
        c.resolver = *address;
      }
    }
  }
  if (ok) out->push_back(std::move(c));
}

std::optional<ProxyProtocol> Loader::read_proxy_protocol(const Item& item, Protocol protocol) {
  auto parsed = read_choice(item, "v1, v2, off", parse_proxy_protocol);
  if (parsed == ProxyProtocol::kV1 && protocol == Protocol::kUdp) {
    error_at(item, "v1 has no UDP form; a udp service sends v2 (or off)");
    return std::nullopt;
  }
  return parsed;
}

// proxy_protocol: v1|v2|off (sent to the backends); accept_proxy_protocol: the
// networks of the balancers in front whose PROXY headers are believed.
void Loader::load_proxy_protocol(const Fields& f, ServiceConfig* service) {
  if (const Item* version = f.get("proxy_protocol")) {
    if (auto parsed = read_proxy_protocol(*version, service->protocol)) service->proxy_protocol = *parsed;
  }
  const Item* from = f.get("accept_proxy_protocol");
  if (from == nullptr) return;
  constexpr const char* kExpected = "a network such as 10.0.0.0/8 or an address";
  for (const auto& entry : sequence(*from, std::string("a sequence of networks (") + kExpected + ")")) {
    auto text = scalar(entry, kExpected);
    if (!text) continue;
    auto prefix = IpPrefix::parse(*text);
    if (prefix.ok()) {
      service->accept_proxy_from.push_back(*prefix);
    } else {
      error_at(entry, std::string("expected ") + kExpected + ": " + prefix.status().message());
    }
  }
}

// Pen's client ACL as a list of "permit CIDR" / "deny CIDR" / "deny country
// CC", first match decides.
void Loader::load_acl(const Item& item, AccessList* acl) {
  constexpr const char* kExpected =
      "'permit CIDR', 'deny CIDR' or 'permit|deny country CC' such as 'deny 10.0.0.0/8'";
  for (const auto& entry : sequence(item, std::string("a sequence of ") + kExpected)) {
    auto text = scalar(entry, kExpected);
    if (!text) continue;
    auto parsed = parse_access_entry(*text);
    if (!parsed.ok()) {
      // The prefix's own complaint (host bits, length) helps; a bad first word needs no more.
      const std::string detail = parsed.status().message();
      std::string why = detail.starts_with("expected 'permit") ? "" : " (" + detail + ")";
      error_at(entry, std::string("expected ") + kExpected + ", got '" + *text + "'" + why);
      continue;
    }
    acl->add(*parsed);
  }
}

void Loader::load_name(const Item& item, SeenServices* seen, ServiceConfig* service) {
  auto name = scalar(item, kServiceNameRule);
  if (!name) return;
  if (!is_valid_service_name(*name)) return error_at(item, std::string("expected ") + kServiceNameRule + ", got '" + *name + "'");
  auto [it, inserted] = seen->names.emplace(*name, line_of(item.mark));
  if (!inserted) {
    return error_at(item, "duplicate service name '" + *name + "' (first used at line " + std::to_string(it->second) + ")");
  }
  service->name = *name;
}

bool Loader::load_protocol(const Item& item, ServiceConfig* service) {
  auto protocol = scalar(item, "tcp or udp");
  if (!protocol) return false;
  if (*protocol == "tcp") {
    service->protocol = Protocol::kTcp;
  } else if (*protocol == "udp") {
    service->protocol = Protocol::kUdp;
  } else {
    error_at(item, "expected tcp or udp, got '" + *protocol + "'");
    return false;
  }
  return true;
}

void Loader::check_protocol_keys(const Fields& f, Protocol protocol) {
  const bool udp = protocol == Protocol::kUdp;
  for (auto key : udp ? Keys(kTcpOnlyKeys) : Keys(kUdpOnlyKeys)) {
    if (const Item* item = f.get(key)) {
      error_at(*item, udp ? "applies to tcp services only; a udp service has session_timeout and max_sessions"
                          : "applies to udp services only (protocol: udp)");
    }
  }
}

// "[host:]port" / "host:port", or {address: ..., port: ...}.
std::optional<Endpoint> Loader::load_address(const Item& item, bool host_required) {
  if (item.node.IsScalar()) {
    auto endpoint = host_required ? parse_host_port(item.node.Scalar()) : parse_listen_address(item.node.Scalar());
    if (!endpoint.ok()) error_at(item, endpoint.status().message());
    return endpoint.ok() ? std::optional(*endpoint) : std::nullopt;
  }
  if (!item.node.IsMap()) {
    error_at(item, std::string("expected ") + (host_required ? "'host:port'" : "'[host:]port'") +
                       " or a mapping with address and port, got " + describe_node(item.node));
    return std::nullopt;
  }
  std::array<std::string_view, 2> required_with_host{"address", "port"};
  std::array<std::string_view, 1> required_port{"port"};
  Fields f = host_required ? fields(item, kListenKeys, required_with_host) : fields(item, kListenKeys, required_port);
  const Item* port_item = f.get("port");
  auto port = port_item ? read_port(*port_item) : std::nullopt;
  const Item* address = f.get("address");
  if (!port) return std::nullopt;
  if (address == nullptr) return Endpoint{"", SocketAddress::any(*port)};
  auto host = scalar(*address, "a host name or IP address");
  if (!host) return std::nullopt;
  auto endpoint = resolve_endpoint(*host, *port);
  if (!endpoint.ok()) error_at(*address, endpoint.status().message());
  return endpoint.ok() ? std::optional(*endpoint) : std::nullopt;
}

void Loader::load_listen(const Item& item, SeenServices* seen, ServiceConfig* service) {
  std::string where;
  if (item.node.IsScalar() && item.node.Scalar().starts_with('/')) {
    service->listen_path = item.node.Scalar();  // a Unix socket (Pen's /path/to/socket)
    where = service->listen_path;
  } else {
    auto endpoint = load_address(item, /*host_required=*/false);
    if (!endpoint) return;
    service->listen = endpoint->address;
    where = endpoint->address.to_string();
  }
  // Keyed by protocol too: a TCP and a UDP service may share a port.
  std::string key = std::string(to_string(service->protocol)) + "/" + where;
  std::string owner = service->name.empty() ? "another service" : "service '" + service->name + "'";
  auto [it, inserted] = seen->listens.emplace(key, std::pair(owner, line_of(item.mark)));
  if (!inserted) {
    const auto& [first, line] = it->second;
    error_at(item, "listen address " + where + " is already used by " + first +
                       " (line " + std::to_string(line) + ")");
  }
}

void Loader::load_policy(const Item& item, PolicyConfig* policy) {
  Fields f = fields(item, kPolicyKeys, {});
  if (const Item* mode = f.get("mode")) {
    constexpr const char* kModes = "affinity, roundrobin, hash, weight, prio, maglev";
    if (auto parsed = read_choice(*mode, kModes, parse_balance_mode)) policy->mode = *parsed;
  }
  read_bool(f, "stubborn", &policy->stubborn);
  read_bool(f, "consistent", &policy->consistent);
  read_seconds(f, "tracking", limits::kSeconds, &policy->tracking_seconds);
  read_seconds(f, "blacklist", limits::kSeconds, &policy->blacklist_seconds);
  read_int(f, "table_size", limits::kTableSize, &policy->table_size);
}

void Loader::read_tls_version(const Fields& f, std::string* min_version) {
  const Item* version = f.get("min_version");
  if (version == nullptr) return;
  auto text = scalar(*version, "1.2 or 1.3");
  if (text && *text != "1.2" && *text != "1.3") error_at(*version, "expected 1.2 or 1.3, got '" + *text + "'");
  if (text && (*text == "1.2" || *text == "1.3")) *min_version = *text;
}

void Loader::read_tls_ciphers(const Fields& f, std::string* ciphers) {
  const Item* item = f.get("ciphers");
  if (item == nullptr) return;
  auto text = scalar(*item, "an OpenSSL cipher list such as ECDHE+AESGCM");
  if (text && text->empty()) error_at(*item, "expected an OpenSSL cipher list, got an empty value");
  if (text && !text->empty()) *ciphers = *text;
}

// tls: {cert, key, ca, ca_dir, sni_path, min_version, ciphers, client_auth,
// prefer_server_ciphers, handshake_timeout, watch_interval, alpn,
// ocsp_response}. The files are read at start (server/tls), where a bad one
// names itself.
void Loader::load_tls(const Item& item, TlsConfig* tls) {
  std::array<std::string_view, 1> required{"cert"};
  Fields f = fields(item, kTlsKeys, required);
  read_file_name(f, "cert", &tls->cert_file);
  read_file_name(f, "key", &tls->key_file);
  read_file_name(f, "ca", &tls->ca_file);
  read_file_name(f, "ca_dir", &tls->ca_dir, "a directory");
  read_file_name(f, "sni_path", &tls->sni_path, "a directory");
  read_file_name(f, "ocsp_response", &tls->ocsp_response_file);
  read_tls_version(f, &tls->min_version);
  read_tls_ciphers(f, &tls->ciphers);
  if (const Item* alpn = f.get("alpn")) {
    for (const Item& p : sequence(*alpn, "a sequence of ALPN protocol names such as [h2, http/1.1]")) {
      auto name = scalar(p, "an ALPN protocol name such as h2");
      if (name && (name->empty() || name->size() > 255)) {
        error_at(p, "expected an ALPN protocol name of 1 to 255 bytes, got '" + *name + "'");
      } else if (name) {
        tls->alpn.push_back(*name);
      }
    }
  }
  if (const Item* auth = f.get("client_auth")) {
    if (auto parsed = read_choice(*auth, "off, optional, required", parse_tls_client_auth)) {
      tls->client_auth = *parsed;
      if (*parsed != TlsClientAuth::kOff && !f.get("ca") && !f.get("ca_dir")) {
        error_at(*auth, "client certificates need the CAs they chain to: set ca or ca_dir");
      }
    }
  }
  read_bool(f, "prefer_server_ciphers", &tls->prefer_server_ciphers);
  read_seconds(f, "handshake_timeout", limits::kTlsHandshakeTimeout, &tls->handshake_timeout_seconds);
  read_seconds(f, "watch_interval", limits::kTlsWatchInterval, &tls->watch_interval_seconds);
}

// backend_tls: {verify, ca, ca_dir, server_name, cert, key, min_version,
// ciphers}: present means on (`{}` takes every default: verified against the
// system's CAs and the backend's IP address).
void Loader::load_backend_tls(const Item& item, BackendTlsConfig* tls) {
  Fields f = fields(item, kBackendTlsKeys, {});
  tls->enabled = true;
  read_bool(f, "verify", &tls->verify);
  read_file_name(f, "ca", &tls->ca_file);
  read_file_name(f, "ca_dir", &tls->ca_dir, "a directory");
  read_file_name(f, "cert", &tls->cert_file);
  read_file_name(f, "key", &tls->key_file);
  if (const Item* name = f.get("server_name")) {
    auto text = scalar(*name, "a DNS name the backends' certificates carry");
    if (text && text->empty()) error_at(*name, "expected a DNS name, got an empty value");
    if (text && !text->empty()) tls->server_name = *text;
  }
  read_tls_version(f, &tls->min_version);
  read_tls_ciphers(f, &tls->ciphers);
  if (const Item* key = f.get("key"); key && !f.get("cert")) error_at(*key, "a key without a cert: set cert too");
  if (!tls->verify && (f.get("ca") || f.get("ca_dir"))) {
    error_at(*(f.get("ca") ? f.get("ca") : f.get("ca_dir")), "CAs given while verify is false");
  }
}

void Loader::load_backends(const Item& item, ServiceConfig* service) {
  std::map<std::string, int> seen;  // address -> line
  for (const auto& backend_item : sequence(item, "a sequence of backends")) {
    auto backend = load_backend(backend_item, service->health_check, service->protocol);
    if (!backend) continue;
    std::string key = backend->address.to_string();
    auto [it, inserted] = seen.emplace(key, line_of(backend_item.mark));
    if (!inserted) {
      error_at(backend_item, "backend " + key + " is listed twice (first at line " + std::to_string(it->second) + ")");
      continue;
    }
    service->backends.push_back(std::move(*backend));
  }
}

// "host:port", or a mapping with the limits, weight and prio as well.
std::optional<BackendConfig> Loader::load_backend(const Item& item,
                                                 const std::optional<HealthCheckConfig>& service_check,
                                                 Protocol protocol) {
  if (item.node.IsScalar()) {
    auto endpoint = load_address(item, /*host_required=*/true);
    if (!endpoint) return std::nullopt;
    return BackendConfig{.host = endpoint->host, .address = endpoint->address};
  }
  if (!item.node.IsMap()) {
    error_at(item, "expected 'host:port' or a mapping with keys " + join(kBackendKeys) + "; got " +
                       describe_node(item.node));
    return std::nullopt;
  }
  Fields f = fields(item, kBackendKeys, std::array<std::string_view, 2>{"address", "port"});
  BackendConfig backend;
  read_int(f, "soft_limit", limits::kConnectionLimit, &backend.soft_limit);
  read_int(f, "hard_limit", limits::kConnectionLimit, &backend.hard_limit);
  read_int(f, "weight", limits::kWeight, &backend.weight);
  read_int(f, "prio", limits::kPrio, &backend.prio);
  if (const Item* version = f.get("proxy_protocol")) backend.proxy_protocol = read_proxy_protocol(*version, protocol);
  read_bool(f, "tcp_fast_open", &backend.tcp_fast_open);
  if (Status st = check_tcp_fast_open(protocol, backend.tcp_fast_open); !st.ok()) {
    error_at(*f.get("tcp_fast_open"), st.message());
  }
  if (const Item* check = f.get("health_check")) {
    backend.health_check = load_health_check(*check, service_check.value_or(default_check(protocol)), protocol);
  }
  const Item* port_item = f.get("port");
  const Item* address = f.get("address");
  auto port = port_item ? read_port(*port_item) : std::nullopt;
  auto host = address ? scalar(*address, "a host name or IP address") : std::nullopt;
  if (!port || !host) return std::nullopt;
  auto endpoint = resolve_endpoint(*host, *port);
  if (!endpoint.ok()) {
    error_at(*address, endpoint.status().message());
    return std::nullopt;
  }
  backend.host = endpoint->host;
  backend.address = endpoint->address;
  return backend;
}

// health_check: {type: tcp|http|send-expect|udp, interval, timeout, rise, fall,
// jitter, and for http method, path, host, expect_status (200 or "200-399"),
// expect_body; for send-expect and udp send, expect, expect_regex; source}.
std::optional<HealthCheckConfig> Loader::load_health_check(const Item& item, const HealthCheckConfig& base,
                                                           Protocol protocol) {
  const size_t errors_before = errors_.size() + dropped_errors_;
  Fields f = fields(item, kHealthCheckKeys, {});
  HealthCheckConfig c = base;
  if (const Item* type = f.get("type")) {
    using enum HealthCheckType;
    auto parsed = read_named(*type, {kTcp, kHttp, kSendExpect, kUdp});
    if (parsed) c.type = *parsed;
    if (parsed && errors_.size() + dropped_errors_ == errors_before) {
      if (Status st = check_type(c.type, protocol); !st.ok()) error_at(*type, st.message());
    }
  }
  read_seconds(f, "interval", kCheckInterval, &c.interval_seconds);
  read_seconds(f, "timeout", kCheckTimeout, &c.timeout_seconds);
  read_int(f, "rise", kRiseFall, &c.rise);
  read_int(f, "fall", kRiseFall, &c.fall);
  if (const Item* jitter = f.get("jitter")) {
    auto text = scalar(*jitter, "a fraction 0-0.5 of the interval");
    if (text) {
      auto value = parse_seconds(*text, SecondsRange{0, false, 0.5});
      if (value.ok()) {
        c.jitter = *value;
      } else {
        error_at(*jitter, "expected a fraction 0-0.5 of the interval, got '" + *text + "'");
      }
    }
  }
  auto read_text = [&](std::string_view key, const char* expected, std::string* out) {
    const Item* it = f.get(key);
    if (it == nullptr) return;
    auto text = scalar(*it, expected);
    if (!text) return;
    if (text->empty()) return error_at(*it, std::string("expected ") + expected + ", got an empty value");
    if (text->find_first_of("\r\n") != std::string::npos) return error_at(*it, "must be on one line");
    *out = *text;
  };
  read_text("method", "an HTTP method such as GET or HEAD", &c.method);
  read_text("path", "a path starting with '/'", &c.path);
  read_text("host", "a Host header value", &c.host_header);
  read_text("expect_body", "a non-empty substring of the body", &c.body_contains);
  // send-expect and udp: bytes as YAML gives them ("PING\r\n" in double
  // quotes); send may be empty (read a greeting, or an empty datagram);
  // expect may not be empty for send-expect, and may be left out for udp.
  if (const Item* send = f.get("send")) {
    if (auto text = scalar(*send, "the bytes to send")) c.send = *text;
  }
  if (const Item* expect = f.get("expect")) {
    constexpr const char* kExpected = "the bytes (or regex) the reply must contain";
    auto text = scalar(*expect, kExpected);
    if (text && text->empty()) error_at(*expect, std::string("expected ") + kExpected + ", got an empty value");
    if (text && !text->empty()) c.expect = *text;
  }
  read_bool(f, "expect_regex", &c.expect_regex);
  if (const Item* status = f.get("expect_status")) {
    constexpr const char* kExpected = "a status code 100-599 or a range such as 200-399";
    auto text = scalar(*status, kExpected);
    if (text) {
      size_t dash = text->find('-');
      auto lo = parse_int(text->substr(0, dash), IntRange{100, 599});
      auto hi = dash == std::string::npos ? lo : parse_int(text->substr(dash + 1), IntRange{100, 599});
      if (!lo.ok() || !hi.ok() || *lo > *hi) {
        error_at(*status, std::string("expected ") + kExpected + ", got '" + *text + "'");
      } else {
        c.status_min = static_cast<uint16_t>(*lo);
        c.status_max = static_cast<uint16_t>(*hi);
      }
    }
  }
  if (const Item* source = f.get("source")) {
    constexpr const char* kExpected = "an IP address, or IP:port (\"[::1]:0\" for IPv6)";
    auto text = scalar(*source, kExpected);
    if (text) {
      auto addr = SocketAddress::parse(*text);
      if (!addr.ok()) addr = SocketAddress::from_ip(*text, 0);
      if (addr.ok()) {
        c.source = *addr;
      } else {
        error_at(*source, std::string("expected ") + kExpected + ", got '" + *text + "'");
      }
    }
  }
  const bool http_only_given = f.get("method") || f.get("path") || f.get("host") || f.get("expect_status") ||
                               f.get("expect_body");
  if (c.type != HealthCheckType::kHttp && http_only_given) {
    for (auto key : {"method", "path", "host", "expect_status", "expect_body"}) {
      if (const Item* it = f.get(key)) error_at(*it, "applies to type: http checks only");
    }
  }
  if (c.type != HealthCheckType::kSendExpect && c.type != HealthCheckType::kUdp) {
    for (auto key : {"send", "expect", "expect_regex"}) {
      if (const Item* it = f.get(key)) error_at(*it, "applies to type: send-expect and udp checks only");
    }
  } else if (c.type == HealthCheckType::kSendExpect && c.expect.empty() &&
             errors_.size() + dropped_errors_ == errors_before) {
    error_at(f.get("type") ? *f.get("type") : item, "a send-expect check needs a non-empty 'expect'");
  }
  if (errors_.size() + dropped_errors_ != errors_before) return std::nullopt;
  // Cross-field rules, at the line of the field that breaks them.
  if (c.timeout_seconds >= c.interval_seconds) {
    const Item* at = f.get("timeout") ? f.get("timeout") : f.get("interval") ? f.get("interval") : &item;
    error_at(*at, "timeout (" + std::to_string(c.timeout_seconds) + " s) must be less than interval (" +
                      std::to_string(c.interval_seconds) + " s)");
    return std::nullopt;
  }
  if (Status st = check(c); !st.ok()) {
    error_at(item, st.message());
    return std::nullopt;
  }
  return c;
}

// Reads a whole file; the error carries strerror for the reason.
Result<std::string> read_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return Status::invalid("cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[65536];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) text.append(buf, n);
  int read_errno = std::ferror(file) ? errno : 0;  // a directory opens fine and fails here (EISDIR)
  std::fclose(file);
  if (read_errno != 0) return Status::invalid("cannot read " + path + ": " + std::strerror(read_errno));
  return text;
}

}  // namespace

Result<AppConfig> YamlLoader::load_file(const std::string& path) {
  auto text = read_file(path);
  if (!text.ok()) return text.status();
  auto config = load_string(*text, path);
  if (config.ok()) config->config_path = path;
  return config;
}

Result<AppConfig> YamlLoader::load_string(std::string_view text, const std::string& source_name) {
  return Loader(source_name).load(text);
}

}  // namespace nib
