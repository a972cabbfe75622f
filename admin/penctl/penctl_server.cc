#include "admin/penctl/penctl_server.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <ctime>
#include <sstream>
#include <vector>

#include "admin/common/commit_change.h"
#include "admin/pages/pen_status_page.h"
#include "admin/penctl/penctl_listener.h"
#include "dataplane/config/limits.h"
#include "dataplane/dataplane.h"
#include "dataplane/net/socket_ops.h"

namespace nib::admin {
namespace {

// Connections wait in the backlog only while the loop is between accepts.
constexpr int kBacklog = 128;
// `recent N`: seconds, as far as a duration can reach.
constexpr IntRange kRecentSeconds{0, static_cast<int64_t>(kMaxSeconds)};

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

std::string error_line(const Status& st) { return "error: " + st.message() + "\n"; }

}  // namespace

PenctlServer::PenctlServer(Dataplane& dataplane, PenctlServerOptions options)
    : dataplane_(dataplane), options_(std::move(options)) {}

PenctlServer::~PenctlServer() { stop(); }

Status PenctlServer::start() {
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
  port_ = bound->port();
  listener_ = std::make_unique<PenctlListener>(
      std::move(*fd), options_.limits, options_.stats,
      [this](const SocketAddress& peer) { return control_permits(peer); },
      [this](const std::string& line) { return execute(line); });
  return listener_->start();
}

void PenctlServer::stop() {
  if (listener_) listener_->stop();
}

std::string PenctlServer::execute(const std::string& line) {
  std::vector<std::string> w = split_words(line);
  if (w.empty()) return "";
  std::vector<std::string> names = dataplane_.service_names();
  if (names.empty()) return "error: no service\n";
  const std::string& service = names.front();
  const std::string& cmd = w[0];

  if (auto reply = execute_acl(w, service)) return *reply;

  if (cmd == "pid" && w.size() == 1) return std::to_string(::getpid()) + "\n";

  if (cmd == "servers" && w.size() == 1) {
    auto st = dataplane_.service(service);
    if (!st.ok()) return error_line(st.status());
    std::ostringstream o;
    for (const auto& b : st->backends) {
      o << b.index << " addr " << b.address.ip_string() << " port " << b.address.port() << " conn " << b.active
        << " max " << b.soft_limit << " hard " << b.hard_limit << " weight " << b.weight << " prio " << b.prio
        << " sx " << b.counters.bytes_in << " rx " << b.counters.bytes_out << "\n";
    }
    return o.str();
  }

  if (cmd == "server" && w.size() >= 4 && w.size() % 2 == 0) {
    auto index = parse_uint(w[1]);
    auto st = dataplane_.service(service);
    if (!st.ok()) return error_line(st.status());
    const BackendStatus* target = nullptr;
    for (const auto& b : st->backends) {
      if (index && b.index >= 0 && static_cast<uint64_t>(b.index) == *index) target = &b;
    }
    if (target == nullptr) return "error: no server " + w[1] + "\n";
    BackendPatch patch;
    std::optional<double> blacklist;
    for (size_t i = 2; i < w.size(); i += 2) {
      auto v = parse_uint(w[i + 1]);
      if (!v || *v > UINT32_MAX) return "error: " + w[i] + ": expected a non-negative integer\n";
      uint32_t value = static_cast<uint32_t>(*v);
      if (w[i] == "weight") {
        patch.weight = value;
      } else if (w[i] == "prio") {
        patch.prio = value;
      } else if (w[i] == "max") {
        patch.soft_limit = value;
      } else if (w[i] == "hard") {
        patch.hard_limit = value;
      } else if (w[i] == "blacklist") {
        blacklist = static_cast<double>(value);
      } else {
        return "error: server: '" + w[i] + "' is not supported by nib; use weight, prio, max, hard or blacklist\n";
      }
    }
    if (patch.weight || patch.prio || patch.soft_limit || patch.hard_limit) {
      auto updated = dataplane_.update_backend(service, target->id, patch);
      if (!updated.ok()) return error_line(updated.status());
      if (Status s = commit_change(dataplane_); !s.ok()) return error_line(s);
    }
    if (blacklist) {
      if (Status s = dataplane_.blacklist_backend(service, target->id, *blacklist); !s.ok()) return error_line(s);
    }
    return "";
  }

  if (cmd == "status" && w.size() == 1) {
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
    return render_pen_status_page(in);
  }

  if (cmd == "recent" && w.size() <= 2) {
    double window = 300;  // Pen's default
    if (w.size() == 2) {
      auto v = parse_uint(w[1]);
      if (!v || !kRecentSeconds.contains_unsigned(*v)) {
        return "error: recent: expected seconds, " + describe(kRecentSeconds) + ", got '" + w[1] + "'\n";
      }
      window = static_cast<double>(*v);
    }
    MonoTime now = MonoClock::now();
    std::ostringstream o;
    for (const auto& c : dataplane_.clients(service)) {
      if (now - c.last_seen > seconds_to_duration(window)) continue;
      o << c.client.to_string() << " connects " << c.connects << " sx " << c.bytes_in << " rx " << c.bytes_out
        << "\n";
    }
    return o.str();
  }

  // The rest reads or patches the service's policy.
  auto policy = dataplane_.policy(service);
  if (!policy.ok()) return error_line(policy.status());
  PolicyConfig p = *policy;
  auto apply = [&]() -> std::string {
    if (Status s = dataplane_.set_policy(service, p); !s.ok()) return error_line(s);
    if (Status s = commit_change(dataplane_); !s.ok()) return error_line(s);
    return "";
  };

  if (cmd == "mode" && w.size() == 1) {
    auto flag = [](bool on, const char* name) { return std::string(on ? "" : "no ") + name; };
    return flag(p.mode == BalanceMode::kHash, "hash") + " " + flag(p.mode == BalanceMode::kRoundRobin, "roundrobin") +
           " " + flag(p.stubborn, "stubborn") + " " + flag(p.mode == BalanceMode::kWeight, "weight") + " " +
           flag(p.mode == BalanceMode::kPrio, "prio") + "\n";
  }

  // Valued settings: without a value they print it, with one they set it and
  // print the new value.
  auto valued = [&](auto* field, bool whole) -> std::string {
    if (w.size() == 2) {
      auto v = parse_uint(w[1]);
      if (!v) return "error: " + cmd + ": expected a non-negative integer\n";
      *field = static_cast<std::remove_pointer_t<decltype(field)>>(*v);
      if (std::string err = apply(); !err.empty()) return err;
    }
    return whole ? std::to_string(static_cast<uint64_t>(*field)) + "\n" : seconds_text(static_cast<double>(*field)) + "\n";
  };
  if (w.size() <= 2) {
    if (cmd == "clients_max") return valued(&p.table_size, true);
    if (cmd == "blacklist") return valued(&p.blacklist_seconds, false);
    if (cmd == "tracking") return valued(&p.tracking_seconds, false);
  }

  // Mode switches. nib has one balancing mode where Pen has flags: turning a
  // mode on selects it; turning the current mode off returns to Pen's default
  // (client tracking with a round-robin first choice).
  bool negate = cmd == "no" && w.size() == 2;
  const std::string& sw = negate ? w[1] : cmd;
  if (w.size() == (negate ? 2u : 1u)) {
    if (sw == "stubborn") {
      p.stubborn = !negate;
      return apply();
    }
    struct Switch {
      const char* word;
      BalanceMode mode;
    };
    constexpr Switch kSwitches[] = {{"roundrobin", BalanceMode::kRoundRobin},
                                    {"hash", BalanceMode::kHash},
                                    {"weight", BalanceMode::kWeight},
                                    {"prio", BalanceMode::kPrio}};
    for (const auto& s : kSwitches) {
      if (sw != s.word) continue;
      if (!negate) {
        p.mode = s.mode;
      } else if (p.mode == s.mode) {
        p.mode = BalanceMode::kAffinity;
      }
      return apply();
    }
  }
  // Pen's own words for a command it does not know.
  return "do_cmd: ignoring command starting with '" + cmd + "'\n";
}

bool PenctlServer::control_permits(const SocketAddress& peer) const {
  std::lock_guard lock(acl_mu_);
  return acls_[control_acl_].permits(peer);
}

std::optional<std::string> PenctlServer::execute_acl(const std::vector<std::string>& w, const std::string& service) {
  const bool no_acl = w.size() >= 2 && w[0] == "no" && w[1] == "acl";
  const std::string& cmd = w[0];
  if (cmd != "acl" && cmd != "client_acl" && cmd != "control_acl" && !no_acl) return std::nullopt;
  const std::string name = no_acl ? "no acl" : cmd;
  const size_t index_at = no_acl ? 2 : 1;
  if (w.size() <= index_at) return "error: " + name + ": expected a list number 0-9\n";
  auto n = parse_uint(w[index_at]);
  if (!n || *n >= kAccessLists) return "error: " + name + ": expected a list number 0-9, got '" + w[index_at] + "'\n";
  const size_t list = static_cast<size_t>(*n);

  std::unique_lock lock(acl_mu_);
  if (cmd == "client_acl" || cmd == "control_acl") {
    if (w.size() != 2) return "error: " + cmd + ": expected '" + cmd + " N'\n";
    if (cmd == "control_acl") {
      control_acl_ = list;
      return std::string();
    }
    client_acl_ = list;
  } else if (no_acl) {
    if (w.size() != 3) return std::string("error: no acl: expected 'no acl N'\n");
    acls_[list].clear();
    if (list != client_acl_) return std::string();
  } else {
    if (w.size() >= 4 && w[3] == "country") {
      return std::string("error: acl: country entries need GeoIP, which nib does not support\n");
    }
    if (w.size() < 4 || w.size() > 5 || (w[2] != "permit" && w[2] != "deny")) {
      return std::string("error: acl: expected 'acl N permit|deny ipv4 [mask]' or 'acl N permit|deny ipv6[/length]'\n");
    }
    auto entry = AccessEntry::parse_pen(w[2] == "permit", w[3], w.size() == 5 ? w[4] : std::string());
    if (!entry.ok()) return "error: acl: " + entry.status().message() + "\n";
    acls_[list].add(*entry);
    if (list != client_acl_) return std::string();
  }
  AccessList effective = acls_[client_acl_];
  lock.unlock();  // the Dataplane takes its own locks
  if (Status st = dataplane_.set_client_acl(service, effective); !st.ok()) return error_line(st);
  return std::string();
}

}  // namespace nib::admin
