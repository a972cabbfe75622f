#include "admin/state/state_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <google/protobuf/util/json_util.h>

#include "dataplane/config/limits.h"
#include "dataplane/config/stored_text.h"
#include "dataplane/dataplane.h"
#include "dataplane/registry/backend_registry.h"
#include "nib/admin/v1/state.pb.h"

namespace nib::admin {
namespace {

// Version 2 (written): nib.admin.v1.StateFile (proto/nib/admin/v1/state.proto)
// as JSON. Version 1 (still read), a line format, one record per line, fields
// separated by single spaces:
//   nib-state 1
//   service NAME
//   policy MODE STUBBORN(0|1) TRACKING_S BLACKLIST_S TABLE_SIZE
//   backend IP:PORT HOST|- WEIGHT PRIO SOFT HARD enabled|draining|disabled
//   pin PREFIX IP:PORT
//   end
constexpr std::string_view kMagic = "nib-state 1";
constexpr uint32_t kVersion = 2;

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    size_t sp = line.find(' ', i);
    if (sp == std::string_view::npos) sp = line.size();
    if (sp > i) out.push_back(line.substr(i, sp - i));
    i = sp + 1;
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T* out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && p == text.data() + text.size();
}

std::optional<AdminState> parse_admin_state(std::string_view s) {
  if (s == "enabled") return AdminState::kEnabled;
  if (s == "draining") return AdminState::kDraining;
  if (s == "disabled") return AdminState::kDisabled;
  return std::nullopt;
}

// ---- The rules, one record at a time, so the parser can put a line on each
// error and the writer can check a whole state. `seen` holds the keys of the
// records before this one in the same scope (services in the file, backends
// and pins in their service); a record that passes is added to it.

Status check_service(std::set<std::string>* seen, const SavedService& s) {
  if (Status st = check_service_name("service name", s.name); !st.ok()) return st;
  if (!seen->insert(s.name).second) return Status::invalid("service '" + s.name + "' is saved twice");
  return {};
}

// The registry's own checks: what a change through the API would be told.
Status check_policy(const SavedService& s) {
  if (Status st = BackendRegistry::check(s.policy); !st.ok()) return Status::invalid("policy: " + st.message());
  return {};
}

// A saved backend as an add through the API would carry it.
BackendConfig as_added(const SavedBackend& b) {
  BackendConfig c;
  c.host = b.host;
  c.address = b.address;
  c.weight = b.weight;
  c.prio = b.prio;
  c.soft_limit = b.soft_limit;
  c.hard_limit = b.hard_limit;
  c.proxy_protocol = b.proxy_protocol;
  c.tcp_fast_open = b.tcp_fast_open;
  return c;
}

Status check_backend(std::set<std::string>* seen, const SavedBackend& b) {
  std::string which = "backend " + b.address.to_string() + ": ";
  if (Status st = BackendRegistry::check(as_added(b)); !st.ok()) return Status::invalid(which + st.message());
  if (!seen->insert(b.address.to_string()).second) return Status::invalid(which + "listed twice in the service");
  return {};
}

Status check_acl(const SavedService& s) {
  if (s.client_acl && s.client_acl->entries().size() > limits::kAclEntries) {
    return Status::invalid("client_acl: at most " + std::to_string(limits::kAclEntries) + " entries, got " +
                           std::to_string(s.client_acl->entries().size()));
  }
  return {};
}

Status check_pin(std::set<std::string>* seen, const SavedPin& p) {
  std::string which = "pin " + p.prefix.to_string() + ": ";
  if (!p.prefix.valid()) return Status::invalid(which + "not a valid prefix");
  if (!seen->insert(p.prefix.to_string()).second) return Status::invalid(which + "pinned twice");
  return {};
}

// -0 (a hand-edited "-0") would be printed as -0 and read back as 0: store
// plain zero so that what is written reads back to the same text.
double without_negative_zero(double seconds) { return seconds + 0.0; }

// The fields of a TLS service's settings the admin API changes; the rest
// (handshake timeout, watch interval) are the configuration's.
void save_tls(const TlsConfig& tls, v1::TlsSettings* out) {
  out->set_cert_file(tls.cert_file);
  out->set_key_file(tls.key_file);
  out->set_ca_file(tls.ca_file);
  out->set_ca_dir(tls.ca_dir);
  out->set_sni_path(tls.sni_path);
  out->set_min_version(tls.min_version);
  out->set_ciphers(tls.ciphers);
  out->set_client_auth(to_string(tls.client_auth));
  out->set_prefer_server_ciphers(tls.prefer_server_ciphers);
  for (const auto& name : tls.alpn) out->add_alpn(name);
  out->set_ocsp_response_file(tls.ocsp_response_file);
}

Result<TlsConfig> read_tls(const v1::TlsSettings& in) {
  TlsConfig tls;
  const std::pair<const char*, const std::string*> paths[] = {
      {"cert_file", &in.cert_file()}, {"key_file", &in.key_file()}, {"ca_file", &in.ca_file()},
      {"ca_dir", &in.ca_dir()},       {"sni_path", &in.sni_path()}, {"ocsp_response_file", &in.ocsp_response_file()}};
  for (const auto& [name, value] : paths) {
    if (Status st = check_text(name, *value, limits::kPathBytes); !st.ok()) return st;
  }
  if (in.cert_file().empty()) return Status::invalid("no cert_file");
  if (Status st = check_text("ciphers", in.ciphers(), limits::kTlsListBytes); !st.ok()) return st;
  auto auth = parse_tls_client_auth(in.client_auth());
  if (!auth) return Status::invalid("client_auth: expected off, optional or required, got " + printable(in.client_auth()));
  tls.cert_file = in.cert_file();
  tls.key_file = in.key_file();
  tls.ca_file = in.ca_file();
  tls.ca_dir = in.ca_dir();
  tls.sni_path = in.sni_path();
  tls.min_version = in.min_version();
  tls.ciphers = in.ciphers();
  tls.client_auth = *auth;
  tls.prefer_server_ciphers = in.prefer_server_ciphers();
  tls.alpn.assign(in.alpn().begin(), in.alpn().end());
  tls.ocsp_response_file = in.ocsp_response_file();
  if (Status st = check_tls_settings(tls); !st.ok()) return st;
  return tls;
}

// The saved settings over the configuration's, which keeps its own timeouts.
void apply_saved_tls(const TlsConfig& saved, TlsConfig* config) {
  const double handshake_timeout = config->handshake_timeout_seconds;
  const double watch_interval = config->watch_interval_seconds;
  *config = saved;
  config->handshake_timeout_seconds = handshake_timeout;
  config->watch_interval_seconds = watch_interval;
}

}  // namespace

void save_service(const SavedService& s, v1::StateService* out) {
  out->set_name(s.name);
  v1::StatePolicy* p = out->mutable_policy();
  p->set_mode(to_string(s.policy.mode));
  p->set_stubborn(s.policy.stubborn);
  p->set_consistent(s.policy.consistent);
  p->set_tracking_seconds(without_negative_zero(s.policy.tracking_seconds));
  p->set_blacklist_seconds(without_negative_zero(s.policy.blacklist_seconds));
  p->set_table_size(s.policy.table_size);
  if (s.has_connect_timeout) p->set_connect_timeout_seconds(without_negative_zero(s.policy.connect_timeout_seconds));
  if (s.has_idle_timeout) p->set_idle_timeout_seconds(without_negative_zero(s.policy.idle_timeout_seconds));
  if (s.has_max_connections) p->set_max_connections(s.policy.max_connections);
  if (s.has_pending_max) p->set_pending_max(s.policy.pending_max);
  if (s.has_idlers) p->set_idlers(s.policy.idlers);
  for (const auto& b : s.backends) {
    v1::StateBackend* sb = out->add_backends();
    sb->set_address(b.address.to_string());
    sb->set_host(b.host);
    sb->set_weight(b.weight);
    sb->set_prio(b.prio);
    sb->set_soft_limit(b.soft_limit);
    sb->set_hard_limit(b.hard_limit);
    sb->set_admin_state(to_string(b.admin_state));
    if (b.proxy_protocol) sb->set_proxy_protocol(to_string(*b.proxy_protocol));
    sb->set_tcp_fast_open(b.tcp_fast_open);
  }
  for (const auto& pin : s.pins) {
    v1::StatePin* sp = out->add_pins();
    sp->set_prefix(pin.prefix.to_string());
    sp->set_backend(pin.backend.to_string());
  }
  if (s.client_acl) {
    v1::StateAcl* acl = out->mutable_client_acl();
    for (const AccessEntry& e : s.client_acl->entries()) acl->add_entries(e.to_string());
  }
  if (s.tls) save_tls(*s.tls, out->mutable_tls());
}

std::string serialize_state(const SavedState& state) {
  v1::StateFile file;
  file.set_version(kVersion);
  for (const auto& s : state.services) save_service(s, file.add_services());
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;  // people read it when something went wrong
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string text;
  // Printing a message built above cannot fail (its strings are checked text).
  (void)google::protobuf::util::MessageToJsonString(file, &text, options);
  return text;
}

Result<SavedService> read_service(const v1::StateService& in, const std::string& in_service) {
  SavedService s;
  s.name = in.name();
  s.has_connect_timeout = s.has_idle_timeout = s.has_max_connections = s.has_pending_max = s.has_idlers = false;
  if (in.has_policy()) {
    const v1::StatePolicy& p = in.policy();
    auto mode = parse_balance_mode(p.mode());
    if (!mode) return Status::invalid(in_service + "policy: unknown mode '" + p.mode() + "'");
    s.policy = PolicyConfig{.mode = *mode,
                            .stubborn = p.stubborn(),
                            .tracking_seconds = p.tracking_seconds(),
                            .blacklist_seconds = p.blacklist_seconds(),
                            .table_size = p.table_size(),
                            .consistent = p.consistent()};
    s.has_connect_timeout = p.has_connect_timeout_seconds();
    s.has_idle_timeout = p.has_idle_timeout_seconds();
    s.has_max_connections = p.has_max_connections();
    s.has_pending_max = p.has_pending_max();
    s.has_idlers = p.has_idlers();
    if (s.has_connect_timeout) s.policy.connect_timeout_seconds = p.connect_timeout_seconds();
    if (s.has_idle_timeout) s.policy.idle_timeout_seconds = p.idle_timeout_seconds();
    if (s.has_max_connections) s.policy.max_connections = p.max_connections();
    if (s.has_pending_max) s.policy.pending_max = p.pending_max();
    if (s.has_idlers) s.policy.idlers = p.idlers();
    if (Status st = check_policy(s); !st.ok()) return Status::invalid(in_service + st.message());
  }
  std::set<std::string> backends_seen, pins_seen;
  for (int i = 0; i < in.backends_size(); ++i) {
    const v1::StateBackend& sb = in.backends(i);
    const std::string which = in_service + "backend " + std::to_string(i + 1) + ": ";
    auto address = SocketAddress::parse(sb.address());
    auto admin_state = parse_admin_state(sb.admin_state());
    if (!address.ok()) return Status::invalid(which + "address: " + address.status().message());
    if (!admin_state) return Status::invalid(which + "unknown admin_state '" + sb.admin_state() + "'");
    std::optional<ProxyProtocol> proxy;
    if (sb.has_proxy_protocol()) {
      proxy = parse_proxy_protocol(sb.proxy_protocol());
      if (!proxy) return Status::invalid(which + "unknown proxy_protocol '" + sb.proxy_protocol() + "'");
    }
    SavedBackend b{.host = sb.host(),
                   .address = *address,
                   .weight = sb.weight(),
                   .prio = sb.prio(),
                   .soft_limit = sb.soft_limit(),
                   .hard_limit = sb.hard_limit(),
                   .proxy_protocol = proxy,
                   .tcp_fast_open = sb.tcp_fast_open(),
                   .admin_state = *admin_state};
    if (Status st = check_backend(&backends_seen, b); !st.ok()) return Status::invalid(which + st.message());
    s.backends.push_back(std::move(b));
  }
  for (int i = 0; i < in.pins_size(); ++i) {
    const v1::StatePin& sp = in.pins(i);
    const std::string which = in_service + "pin " + std::to_string(i + 1) + ": ";
    auto prefix = IpPrefix::parse(sp.prefix());
    auto backend = SocketAddress::parse(sp.backend());
    if (!prefix.ok() || !backend.ok()) return Status::invalid(which + "malformed prefix or backend address");
    SavedPin pin{*prefix, *backend};
    if (Status st = check_pin(&pins_seen, pin); !st.ok()) return Status::invalid(which + st.message());
    s.pins.push_back(pin);
  }
  if (in.has_client_acl()) {
    AccessList acl;
    for (int i = 0; i < in.client_acl().entries_size(); ++i) {
      auto entry = parse_access_entry(in.client_acl().entries(i));
      if (!entry.ok()) {
        return Status::invalid(in_service + "client_acl entry " + std::to_string(i + 1) + ": " +
                               entry.status().message());
      }
      acl.add(*entry);
    }
    s.client_acl = std::move(acl);
    if (Status st = check_acl(s); !st.ok()) return Status::invalid(in_service + st.message());
  }
  if (in.has_tls()) {
    auto tls = read_tls(in.tls());
    if (!tls.ok()) return Status::invalid(in_service + "tls: " + tls.status().message());
    s.tls = std::move(*tls);
  }
  return s;
}

namespace {

// Version 2: the JSON text, then every record through the same rules as
// version 1 (check_state()'s), each error naming its service and record.
Result<SavedState> parse_json_state(std::string_view text, const std::string& source_name) {
  const std::string where = "state file " + source_name + ": ";
  v1::StateFile file;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a field this nib does not know: a newer file, refused
  auto parsed = google::protobuf::util::JsonStringToMessage(google::protobuf::StringPiece(text.data(), text.size()),
                                                            &file, options);
  if (!parsed.ok()) return Status::invalid(where + "not a state file: " + std::string(parsed.message()));
  if (file.version() != kVersion) {
    return Status::invalid(where + "version " + std::to_string(file.version()) + ", expected " +
                           std::to_string(kVersion) + " (or a version 1 file, '" + std::string(kMagic) + "')");
  }
  SavedState state;
  std::set<std::string> services_seen;
  for (const auto& in : file.services()) {
    SavedService named;
    named.name = in.name();
    if (Status st = check_service(&services_seen, named); !st.ok()) return Status::invalid(where + st.message());
    auto s = read_service(in, where + "service '" + in.name() + "': ");
    if (!s.ok()) return s.status();
    state.services.push_back(std::move(*s));
  }
  return state;
}

Result<SavedState> parse_line_state(std::string_view text, const std::string& source_name);

}  // namespace

Result<SavedState> parse_state(std::string_view text, const std::string& source_name) {
  if (text.substr(0, text.find('\n')) == kMagic) return parse_line_state(text, source_name);
  return parse_json_state(text, source_name);
}

namespace {

// Version 1, line by line: each error names its line.
Result<SavedState> parse_line_state(std::string_view text, const std::string& source_name) {
  SavedState state;
  std::set<std::string> services_seen, backends_seen, pins_seen;
  size_t line_no = 0;
  bool ended = false;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    std::string where = "state file " + source_name + ":" + std::to_string(line_no) + ": ";
    if (ended) return Status::invalid(where + "text after 'end'");
    if (line_no == 1) {
      if (line != kMagic) return Status::invalid(where + "expected '" + std::string(kMagic) + "'");
      continue;
    }
    auto f = split(line);
    if (f.empty()) return Status::invalid(where + "empty line");
    std::string_view kind = f[0];
    if (kind == "end" && f.size() == 1) {
      ended = true;
      continue;
    }
    if (kind == "service" && f.size() == 2) {
      SavedService service;
      service.name = std::string(f[1]);
      service.has_connect_timeout = service.has_idle_timeout = service.has_max_connections = false;  // not in version 1
      service.has_pending_max = service.has_idlers = false;
      if (Status st = check_service(&services_seen, service); !st.ok()) return Status::invalid(where + st.message());
      state.services.push_back(std::move(service));
      backends_seen.clear();
      pins_seen.clear();
      continue;
    }
    if (state.services.empty()) return Status::invalid(where + "expected 'service NAME' first");
    SavedService& s = state.services.back();
    if (kind == "policy" && f.size() == 6) {
      auto mode = parse_balance_mode(f[1]);
      int stubborn = 0;
      if (!mode || !parse_number(f[2], &stubborn) || stubborn < 0 || stubborn > 1 ||
          !parse_number(f[3], &s.policy.tracking_seconds) || !parse_number(f[4], &s.policy.blacklist_seconds) ||
          !parse_number(f[5], &s.policy.table_size)) {
        return Status::invalid(where + "malformed policy line");
      }
      s.policy.mode = *mode;
      s.policy.stubborn = stubborn == 1;
      if (Status st = check_policy(s); !st.ok()) return Status::invalid(where + st.message());
      continue;
    }
    if (kind == "backend" && f.size() == 8) {
      SavedBackend b;
      auto address = SocketAddress::parse(f[1]);
      auto admin_state = parse_admin_state(f[7]);
      if (!address.ok() || !admin_state || !parse_number(f[3], &b.weight) || !parse_number(f[4], &b.prio) ||
          !parse_number(f[5], &b.soft_limit) || !parse_number(f[6], &b.hard_limit)) {
        return Status::invalid(where + "malformed backend line");
      }
      b.address = *address;
      b.host = f[2] == "-" ? "" : std::string(f[2]);
      b.admin_state = *admin_state;
      if (Status st = check_backend(&backends_seen, b); !st.ok()) return Status::invalid(where + st.message());
      s.backends.push_back(b);
      continue;
    }
    if (kind == "pin" && f.size() == 3) {
      auto prefix = IpPrefix::parse(f[1]);
      auto backend = SocketAddress::parse(f[2]);
      if (!prefix.ok() || !backend.ok()) return Status::invalid(where + "malformed pin line");
      SavedPin pin{*prefix, *backend};
      if (Status st = check_pin(&pins_seen, pin); !st.ok()) return Status::invalid(where + st.message());
      s.pins.push_back(pin);
      continue;
    }
    return Status::invalid(where + "unknown or malformed record '" + std::string(kind) + "'");
  }
  if (!ended) {
    return Status::invalid("state file " + source_name + ": cut short (no final 'end' line)");
  }
  return state;
}

}  // namespace

Status check_state(const SavedState& state) {
  std::set<std::string> services_seen;
  for (const auto& s : state.services) {
    if (Status st = check_service(&services_seen, s); !st.ok()) return st;
    std::string where = "service '" + s.name + "': ";
    if (Status st = check_policy(s); !st.ok()) return Status::invalid(where + st.message());
    std::set<std::string> backends_seen, pins_seen;
    for (const auto& b : s.backends) {
      if (Status st = check_backend(&backends_seen, b); !st.ok()) return Status::invalid(where + st.message());
    }
    for (const auto& p : s.pins) {
      if (Status st = check_pin(&pins_seen, p); !st.ok()) return Status::invalid(where + st.message());
    }
    if (Status st = check_acl(s); !st.ok()) return Status::invalid(where + st.message());
  }
  return {};
}

Result<std::optional<SavedState>> load_state_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Status::invalid("state file " + path + ": is a directory; expected a file name");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::optional<SavedState>();
    return Status::invalid("state file " + path + ": cannot read: " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::invalid("state file " + path + ": cannot read: " + std::strerror(errno));
  auto parsed = parse_state(text.str(), path);
  if (!parsed.ok()) return parsed.status();
  return std::optional<SavedState>(std::move(*parsed));
}

PolicyConfig saved_policy(const SavedService& saved, const PolicyConfig& current) {
  PolicyConfig p = saved.policy;
  if (!saved.has_connect_timeout) p.connect_timeout_seconds = current.connect_timeout_seconds;
  if (!saved.has_idle_timeout) p.idle_timeout_seconds = current.idle_timeout_seconds;
  if (!saved.has_max_connections) p.max_connections = current.max_connections;
  if (!saved.has_pending_max) p.pending_max = current.pending_max;
  if (!saved.has_idlers) p.idlers = current.idlers;
  return p;
}

SavedState capture_state(const Dataplane& dataplane) {
  SavedState state;
  for (const auto& name : dataplane.service_names()) {
    if (auto s = capture_service(dataplane, name)) state.services.push_back(std::move(*s));
  }
  return state;
}

std::optional<SavedService> capture_service(const Dataplane& dataplane, const std::string& name) {
  auto status = dataplane.service(name);
  auto policy = dataplane.policy(name);
  auto pins = dataplane.pins(name);
  if (!status.ok() || !policy.ok()) return std::nullopt;
  SavedService s;
  s.name = name;
  s.policy = *policy;
  std::map<uint32_t, SocketAddress> by_id;
  for (const auto& b : status->backends) {
    // Discovered backends (backends_from) come and go with their records:
    // a restart finds them again, the file must not make them permanent.
    if (!b.source.empty()) continue;
    by_id[b.id] = b.address;
    SavedBackend saved;
    saved.host = b.host;
    saved.address = b.address;
    saved.weight = b.weight;
    saved.prio = b.prio;
    saved.soft_limit = b.soft_limit;
    saved.hard_limit = b.hard_limit;
    saved.proxy_protocol = b.proxy_protocol;
    saved.tcp_fast_open = b.tcp_fast_open;
    saved.admin_state = b.admin_state;
    s.backends.push_back(saved);
  }
  if (pins.ok()) {
    for (const auto& p : *pins) {
      if (auto it = by_id.find(p.backend_id); it != by_id.end()) s.pins.push_back(SavedPin{p.prefix, it->second});
    }
  }
  if (auto acl = dataplane.client_acl(name); acl.ok()) s.client_acl = std::move(*acl);
  if (auto tls = dataplane.tls_settings(name); tls.ok()) s.tls = std::move(*tls);
  return s;
}

void apply_to_config(const SavedState& state, DataplaneConfig* config) {
  for (const auto& saved : state.services) {
    auto it = std::find_if(config->services.begin(), config->services.end(),
                           [&](const ServiceConfig& s) { return s.name == saved.name; });
    if (it == config->services.end()) continue;
    it->policy = saved_policy(saved, it->policy);
    if (saved.client_acl) it->client_acl = *saved.client_acl;
    if (saved.tls && it->tls.enabled()) apply_saved_tls(*saved.tls, &it->tls);
    // No backend left: restore_state() removes them once running (a service
    // may not start without one).
    if (saved.backends.empty()) continue;
    std::vector<BackendConfig> backends;
    for (const auto& b : saved.backends) {
      BackendConfig c;
      auto configured = std::find_if(it->backends.begin(), it->backends.end(),
                                     [&](const BackendConfig& k) { return k.address == b.address; });
      if (configured != it->backends.end()) c = *configured;
      if (configured == it->backends.end()) c.host = b.host;
      c.address = b.address;
      c.weight = b.weight;
      c.prio = b.prio;
      c.soft_limit = b.soft_limit;
      c.hard_limit = b.hard_limit;
      c.proxy_protocol = b.proxy_protocol;
      c.tcp_fast_open = b.tcp_fast_open;
      backends.push_back(c);
    }
    it->backends = std::move(backends);
  }
}

namespace {

// One saved backend made true of the running one with that address (added
// when missing): settings first, then the operator state. Returns its id.
Result<uint32_t> reconcile_backend(Dataplane& dataplane, const std::string& service, const SavedBackend& b,
                                   const std::vector<BackendStatus>& running) {
  auto same = std::find_if(running.begin(), running.end(), [&](const BackendStatus& r) { return r.address == b.address; });
  uint32_t id = 0;
  AdminState now = AdminState::kEnabled;
  if (same == running.end()) {
    auto added = dataplane.add_backend(service, as_added(b));
    if (!added.ok()) return added.status();
    id = added->id;
  } else {
    id = same->id;
    now = same->admin_state;
    BackendPatch patch;
    if (same->weight != b.weight) patch.weight = b.weight;
    if (same->prio != b.prio) patch.prio = b.prio;
    if (same->soft_limit != b.soft_limit) patch.soft_limit = b.soft_limit;
    if (same->hard_limit != b.hard_limit) patch.hard_limit = b.hard_limit;
    if (same->proxy_protocol != b.proxy_protocol) patch.proxy_protocol = b.proxy_protocol;
    if (same->tcp_fast_open != b.tcp_fast_open) patch.tcp_fast_open = b.tcp_fast_open;
    if (patch.weight || patch.prio || patch.soft_limit || patch.hard_limit || patch.proxy_protocol ||
        patch.tcp_fast_open) {
      if (auto updated = dataplane.update_backend(service, id, patch); !updated.ok()) return updated.status();
    }
  }
  if (b.admin_state == now) return id;
  if (b.admin_state == AdminState::kDraining) {
    if (auto drained = dataplane.drain_backend(service, id); !drained.ok()) return drained.status();
    return id;
  }
  BackendPatch state;
  state.enabled = b.admin_state == AdminState::kEnabled;
  if (auto updated = dataplane.update_backend(service, id, state); !updated.ok()) return updated.status();
  return id;
}

Status reconcile_pins(Dataplane& dataplane, const SavedService& saved, const std::map<std::string, uint32_t>& id_of) {
  auto pins = dataplane.pins(saved.name);
  if (!pins.ok()) return pins.status();
  for (const auto& p : saved.pins) {
    auto it = id_of.find(p.backend.to_string());
    if (it == id_of.end()) continue;  // its backend is gone: the pin went with it
    bool same = std::any_of(pins->begin(), pins->end(),
                            [&](const ClientPin& r) { return r.prefix == p.prefix && r.backend_id == it->second; });
    if (same) continue;
    if (Status st = dataplane.pin_clients(saved.name, p.prefix, it->second); !st.ok()) return st;
  }
  for (const auto& r : *pins) {
    bool kept = std::any_of(saved.pins.begin(), saved.pins.end(), [&](const SavedPin& p) { return p.prefix == r.prefix; });
    if (kept) continue;
    if (Status st = dataplane.unpin_clients(saved.name, r.prefix); !st.ok() && st.code() != StatusCode::kNotFound) {
      return st;
    }
  }
  return {};
}

}  // namespace

Status reconcile_service(Dataplane& dataplane, const SavedService& saved) {
  auto status = dataplane.service(saved.name);
  if (!status.ok()) return status.status();
  const std::string where = "service '" + saved.name + "': ";
  const std::vector<BackendStatus> running = status->backends;
  std::map<std::string, uint32_t> id_of;  // address -> id now
  for (const auto& b : saved.backends) {
    auto id = reconcile_backend(dataplane, saved.name, b, running);
    if (!id.ok()) return Status(id.status().code(), where + "backend " + b.address.to_string() + ": " + id.status().message());
    id_of[b.address.to_string()] = *id;
  }
  // Backends removed: gone from the saved list. Removed after the additions,
  // so the service is never left without a backend on the way. Discovered
  // backends (backends_from) are DNS's, never the saved state's.
  for (const auto& r : running) {
    if (!r.source.empty()) continue;
    bool kept = std::any_of(saved.backends.begin(), saved.backends.end(),
                            [&](const SavedBackend& b) { return b.address == r.address; });
    if (kept) continue;
    if (Status st = dataplane.remove_backend(saved.name, r.id); !st.ok()) return Status(st.code(), where + st.message());
  }
  auto policy = dataplane.policy(saved.name);
  if (!policy.ok()) return policy.status();
  if (PolicyConfig wanted = saved_policy(saved, *policy); !(wanted == *policy)) {
    if (Status st = dataplane.set_policy(saved.name, wanted); !st.ok()) return Status(st.code(), where + st.message());
  }
  if (Status st = reconcile_pins(dataplane, saved, id_of); !st.ok()) return Status(st.code(), where + st.message());
  // Already in force when apply_to_config() put it in the configuration.
  if (saved.client_acl && dataplane.client_acl(saved.name).value_or(AccessList()) != *saved.client_acl) {
    if (Status st = dataplane.set_client_acl(saved.name, *saved.client_acl); !st.ok()) {
      return Status(st.code(), where + st.message());
    }
  }
  return {};
}

Status restore_state(Dataplane& dataplane, const SavedState& state, std::vector<std::string>* skipped) {
  std::vector<std::string> names = dataplane.service_names();
  for (const auto& saved : state.services) {
    if (std::find(names.begin(), names.end(), saved.name) == names.end()) {
      if (skipped) skipped->push_back(saved.name);
      continue;
    }
    if (Status st = reconcile_service(dataplane, saved); !st.ok()) {
      return Status(st.code(), "state file, " + st.message());
    }
  }
  return {};
}

}  // namespace nib::admin
