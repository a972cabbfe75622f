#include "server/discovery/dns_discovery.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <strings.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>

#include "dataplane/base/log.h"
#include "dataplane/dataplane.h"

namespace nib {

const char* to_string(DnsOutcome outcome) {
  switch (outcome) {
    case DnsOutcome::kOk: return "ok";
    case DnsOutcome::kNxdomain: return "nxdomain";
    case DnsOutcome::kNoData: return "nodata";
    case DnsOutcome::kServfail: return "servfail";
    case DnsOutcome::kTimeout: return "timeout";
    case DnsOutcome::kError: return "error";
  }
  return "?";
}

namespace {

std::string seconds_text(double seconds) {
  std::ostringstream out;
  out << seconds;  // 0.2, 5, 86400
  return out.str();
}

// A res_state of the caller's own (libresolv's reentrant interface), closed
// on destruction.
class Resolver {
 public:
  explicit Resolver(const DnsDiscoveryConfig& config) {
    if (::res_ninit(&state_) != 0) return;
    ok_ = true;
    state_.retrans = DnsDiscovery::kQueryTimeoutSeconds;
    state_.retry = DnsDiscovery::kQueryAttempts;
    if (config.resolver) {
      // One server: the configured one (IPv4; the loader allows no other).
      std::memcpy(&state_.nsaddr_list[0], config.resolver->sockaddr_ptr(), sizeof(sockaddr_in));
      state_.nscount = 1;
    }
  }
  ~Resolver() {
    if (ok_) ::res_nclose(&state_);
  }
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  bool ok() const { return ok_; }

  struct Answer {
    DnsOutcome outcome = DnsOutcome::kError;
    std::vector<unsigned char> bytes;
    std::string detail;
  };
  // One question of `type` (ns_t_a, ns_t_aaaa, ns_t_srv) for `name`.
  Answer query(const std::string& name, int type) {
    Answer a;
    a.bytes.resize(65536);
    errno = 0;
    const int n = ::res_nquery(&state_, name.c_str(), ns_c_in, type, a.bytes.data(), static_cast<int>(a.bytes.size()));
    if (n >= 0) {
      a.bytes.resize(static_cast<size_t>(n));
      a.outcome = DnsOutcome::kOk;
      return a;
    }
    const int e = errno;
    a.bytes.clear();
    switch (state_.res_h_errno) {
      case HOST_NOT_FOUND: a.outcome = DnsOutcome::kNxdomain; break;
      case NO_DATA: a.outcome = DnsOutcome::kNoData; break;
      // TRY_AGAIN is SERVFAIL or no answer at all; errno tells them apart.
      case TRY_AGAIN:
        if (e == ETIMEDOUT || e == ECONNREFUSED) {
          a.outcome = DnsOutcome::kTimeout;
          a.detail = e == ETIMEDOUT ? "no answer" : "connection refused";
        } else {
          a.outcome = DnsOutcome::kServfail;
        }
        break;
      default: a.outcome = DnsOutcome::kServfail; break;
    }
    return a;
  }

 private:
  struct __res_state state_ {};
  bool ok_ = false;
};

std::string address_text(int family, const unsigned char* data) {
  char text[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(family, data, text, sizeof text) == nullptr) return {};
  return text;
}

// The A or AAAA records of `section` (for `owner` only, when not empty) as
// backends on `port`.
void collect_addresses(ns_msg& msg, ns_sect section, const std::string& owner, uint16_t port, uint32_t weight,
                       uint32_t prio, std::vector<DiscoveredBackend>* out) {
  const int count = ns_msg_count(msg, section);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (::ns_parserr(&msg, section, i, &rr) != 0) continue;
    if (ns_rr_class(rr) != ns_c_in) continue;
    if (!owner.empty() && ::strcasecmp(ns_rr_name(rr), owner.c_str()) != 0) continue;
    int family = 0;
    if (ns_rr_type(rr) == ns_t_a && ns_rr_rdlen(rr) == 4) family = AF_INET;
    if (ns_rr_type(rr) == ns_t_aaaa && ns_rr_rdlen(rr) == 16) family = AF_INET6;
    if (family == 0) continue;  // a CNAME on the way, or another type
    auto address = SocketAddress::from_ip(address_text(family, ns_rr_rdata(rr)), port);
    if (!address.ok()) continue;
    const std::string host = owner.empty() ? std::string(ns_rr_name(rr)) : owner;
    out->push_back(DiscoveredBackend{.address = *address, .host = host, .weight = weight, .prio = prio});
  }
}

struct SrvRecord {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;
};

std::vector<SrvRecord> srv_records(ns_msg& msg) {
  std::vector<SrvRecord> out;
  const int count = ns_msg_count(msg, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (::ns_parserr(&msg, ns_s_an, i, &rr) != 0) continue;
    if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in || ns_rr_rdlen(rr) < 7) continue;
    const unsigned char* rdata = ns_rr_rdata(rr);
    SrvRecord srv{.priority = static_cast<uint16_t>(ns_get16(rdata)),
                  .weight = static_cast<uint16_t>(ns_get16(rdata + 2)),
                  .port = static_cast<uint16_t>(ns_get16(rdata + 4))};
    char target[NS_MAXDNAME];
    if (::ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rdata + 6, target, sizeof target) < 0) continue;
    srv.target = target;
    // "." : the service is decidedly not available at this name (RFC 2782).
    if (srv.target.empty() || srv.target == "." || srv.port == 0) continue;
    out.push_back(std::move(srv));
  }
  return out;
}

// nib's weight for an SRV weight: 0 (RFC 2782: "very small chance") is the
// least nib has for a backend that takes clients.
uint32_t weight_of(uint16_t srv_weight) {
  return std::clamp<uint32_t>(srv_weight, 1, static_cast<uint32_t>(limits::kWeight.max));
}

void unique_by_address(std::vector<DiscoveredBackend>* backends) {
  std::vector<DiscoveredBackend> out;
  for (auto& b : *backends) {
    if (std::none_of(out.begin(), out.end(), [&](const DiscoveredBackend& o) { return o.address == b.address; })) {
      out.push_back(std::move(b));
    }
  }
  *backends = std::move(out);
}

}  // namespace

DnsLookup dns_lookup(const DnsDiscoveryConfig& config) {
  DnsLookup result;
  Resolver resolver(config);
  if (!resolver.ok()) {
    result.detail = "cannot read the resolver configuration (/etc/resolv.conf)";
    return result;
  }
  const int type = config.type == DnsRecordType::kA ? ns_t_a : config.type == DnsRecordType::kAaaa ? ns_t_aaaa : ns_t_srv;
  Resolver::Answer answer = resolver.query(config.name, type);
  if (answer.outcome != DnsOutcome::kOk) {
    result.outcome = answer.outcome;
    result.detail = answer.detail;
    return result;
  }
  ns_msg msg;
  if (::ns_initparse(answer.bytes.data(), static_cast<int>(answer.bytes.size()), &msg) != 0) {
    result.detail = "an unreadable answer";
    return result;
  }
  if (config.type != DnsRecordType::kSrv) {
    collect_addresses(msg, ns_s_an, "", config.port, 1, 0, &result.backends);
  } else {
    for (const SrvRecord& srv : srv_records(msg)) {
      std::vector<DiscoveredBackend> found;
      const uint32_t weight = weight_of(srv.weight);
      // The server may have sent the target's addresses along; otherwise ask.
      collect_addresses(msg, ns_s_ar, srv.target, srv.port, weight, srv.priority, &found);
      for (int t : {ns_t_a, ns_t_aaaa}) {
        if (!found.empty()) break;
        Resolver::Answer addresses = resolver.query(srv.target, t);
        ns_msg target_msg;
        if (addresses.outcome != DnsOutcome::kOk ||
            ::ns_initparse(addresses.bytes.data(), static_cast<int>(addresses.bytes.size()), &target_msg) != 0) {
          continue;
        }
        collect_addresses(target_msg, ns_s_an, "", srv.port, weight, srv.priority, &found);
        for (auto& b : found) b.host = srv.target;
      }
      result.backends.insert(result.backends.end(), found.begin(), found.end());
    }
  }
  unique_by_address(&result.backends);
  result.outcome = result.backends.empty() ? DnsOutcome::kNoData : DnsOutcome::kOk;
  if (result.backends.empty()) result.detail = "no usable record in the answer";
  return result;
}

// One name's schedule and what its lookups found (the thread's own, but for
// the counters stats() reads).
struct DnsDiscovery::Entry {
  DnsDiscoveryConfig config;
  MonoTime due{};
  DnsOutcome last = DnsOutcome::kOk;  // logged when it changes
  bool had_lookup = false;
  // Addresses this discovery drained: a record that comes back ends their
  // drain (a drain an operator started is theirs to end).
  std::set<std::string> drained;
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint32_t> backends{0};
};

DnsDiscovery::DnsDiscovery(Dataplane& dataplane, std::vector<DnsDiscoveryConfig> configs, LookupObserver on_lookup,
                           const Drained& drained)
    : dataplane_(dataplane), configs_(std::move(configs)), on_lookup_(std::move(on_lookup)) {
  const MonoTime now = MonoClock::now();
  for (const auto& c : configs_) {
    auto e = std::make_unique<Entry>();
    e->config = c;
    e->due = now;
    if (auto it = drained.find(c.service); it != drained.end()) e->drained = it->second;
    entries_.push_back(std::move(e));
    log_info("service " + c.service + ": backends from DNS: " + to_string(c.type) + " records of " + c.name +
             (c.type == DnsRecordType::kSrv ? std::string() : " on port " + std::to_string(c.port)) + ", every " +
             seconds_text(c.interval_seconds) + " s" +
             (c.resolver ? ", asking " + c.resolver->to_string() : std::string(", asking the system's resolvers")));
  }
  if (!entries_.empty()) thread_ = std::thread([this] { run(); });
}

DnsDiscovery::~DnsDiscovery() { stop(); }

DnsDiscovery::Drained DnsDiscovery::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  Drained out;
  for (const auto& e : entries_) {
    if (!e->drained.empty()) out[e->config.service].insert(e->drained.begin(), e->drained.end());
  }
  return out;
}

std::vector<DnsDiscovery::Stats> DnsDiscovery::stats() const {
  std::vector<Stats> out;
  for (const auto& e : entries_) {
    out.push_back(Stats{.service = e->config.service,
                        .lookups_ok = e->ok.load(),
                        .lookups_failed = e->failed.load(),
                        .backends = e->backends.load()});
  }
  return out;
}

void DnsDiscovery::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    Entry* next = nullptr;
    for (auto& e : entries_) {
      if (next == nullptr || e->due < next->due) next = e.get();
    }
    if (MonoClock::now() < next->due) {
      wake_.wait_until(lock, next->due, [this] { return stop_; });
      continue;
    }
    lock.unlock();
    lookup_and_apply(*next);
    next->due = MonoClock::now() + seconds_to_duration(next->config.interval_seconds);
    lock.lock();
  }
}

void DnsDiscovery::lookup_and_apply(Entry& entry) {
  const DnsDiscoveryConfig& c = entry.config;
  DnsLookup found = dns_lookup(c);
  const bool changed = !entry.had_lookup || found.outcome != entry.last;
  entry.had_lookup = true;
  entry.last = found.outcome;
  if (on_lookup_) on_lookup_(c.service, found.outcome, static_cast<uint32_t>(found.backends.size()));
  if (found.outcome != DnsOutcome::kOk) {
    entry.failed.fetch_add(1);
    if (changed) {
      log_warn("service " + c.service + ": DNS lookup of " + c.name + " (" + to_string(c.type) + ") failed: " +
               to_string(found.outcome) + (found.detail.empty() ? "" : " (" + found.detail + ")") +
               "; keeping the " + std::to_string(entry.backends.load()) +
               " discovered backend(s) until a lookup succeeds");
    }
    return;
  }
  if (changed) {
    log_info("service " + c.service + ": DNS lookup of " + c.name + " answers " +
             std::to_string(found.backends.size()) + " record(s)");
  }
  entry.backends.store(static_cast<uint32_t>(found.backends.size()));
  apply(entry, found.backends);
  entry.ok.fetch_add(1);  // after: a reader that sees the count sees the backends
}

void DnsDiscovery::apply(Entry& entry, const std::vector<DiscoveredBackend>& want) {
  const std::string& service = entry.config.service;
  auto status = dataplane_.service(service);
  if (!status.ok()) return;  // a reload dropped it; this discovery stops with the reload
  const std::string from = " (DNS " + entry.config.name + ")";
  for (const DiscoveredBackend& d : want) {
    auto it = std::find_if(status->backends.begin(), status->backends.end(),
                           [&](const BackendStatus& b) { return b.address == d.address; });
    if (it == status->backends.end()) {
      BackendConfig config{.host = d.host, .address = d.address, .weight = d.weight, .prio = d.prio,
                           .source = kDnsSource};
      auto added = dataplane_.add_backend(service, config);
      if (added.ok()) {
        log_info("service " + service + ": added backend " + d.address.to_string() + " (id " +
                 std::to_string(added->id) + ")" + from);
      } else {
        log_warn("service " + service + ": cannot add backend " + d.address.to_string() + from + ": " +
                 added.status().message());
      }
      continue;
    }
    if (it->source != kDnsSource) continue;  // configured or an operator's: not ours to change
    BackendPatch patch;
    const std::string key = d.address.to_string();
    if (it->admin_state == AdminState::kDraining && entry.drained.erase(key) > 0) patch.enabled = true;
    if (entry.config.type == DnsRecordType::kSrv) {
      if (it->weight != d.weight) patch.weight = d.weight;
      if (it->prio != d.prio) patch.prio = d.prio;
    }
    if (!patch.enabled && !patch.weight && !patch.prio) continue;
    if (auto updated = dataplane_.update_backend(service, it->id, patch); !updated.ok()) {
      log_warn("service " + service + ": cannot update backend " + key + from + ": " + updated.status().message());
    } else if (patch.enabled) {
      log_info("service " + service + ": backend " + key + " is back in DNS; its drain ends" + from);
    }
  }
  for (const BackendStatus& b : status->backends) {
    if (b.source != kDnsSource) continue;
    if (std::any_of(want.begin(), want.end(), [&](const DiscoveredBackend& d) { return d.address == b.address; })) {
      continue;
    }
    const std::string key = b.address.to_string();
    if (b.active == 0) {
      // Idle (never used, or its drain finished): it goes now. Connections
      // opened since the status was read finish, as after any removal.
      if (Status st = dataplane_.remove_backend(service, b.id); st.ok()) {
        log_info("service " + service + ": removed backend " + key + " (id " + std::to_string(b.id) +
                 "), no longer in DNS" + from);
      } else if (st.code() != StatusCode::kNotFound) {
        log_warn("service " + service + ": cannot remove backend " + key + from + ": " + st.message());
      }
      entry.drained.erase(key);
      continue;
    }
    if (b.admin_state == AdminState::kDraining) continue;  // waits for its connections
    if (auto drained = dataplane_.drain_backend(service, b.id); drained.ok()) {
      entry.drained.insert(key);
      log_info("service " + service + ": draining backend " + key + " (id " + std::to_string(b.id) + ", " +
               std::to_string(b.active) + " open connection(s)), no longer in DNS" + from);
    } else {
      log_warn("service " + service + ": cannot drain backend " + key + from + ": " + drained.status().message());
    }
  }
}

}  // namespace nib
