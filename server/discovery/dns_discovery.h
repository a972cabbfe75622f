#pragma once
// Backends from DNS (a service's `backends_from`, issue 15): the A, AAAA or
// SRV records of a name, as a Kubernetes headless Service publishes one per
// ready pod, become the service's backends and follow the records.
//
// One thread per DnsDiscovery asks every configured name in turn, each every
// `interval`; DNS never runs on the dataplane's event loops. Queries go
// through glibc's libresolv (res_nquery on a res_state of the thread's own,
// answers parsed with ns_initparse/ns_parserr). Per lookup:
// - a record not yet a backend is added (source "dns");
// - a discovered backend whose record went away is drained (no new clients,
//   open connections finish) and removed at the first lookup that finds it
//   without connections (at once when it has none);
// - a record that comes back while its backend drains ends the drain;
// - a failed lookup (timeout, SERVFAIL, NXDOMAIN, an answer without records)
//   changes nothing: a DNS outage never empties a service. A warning is
//   logged when the outcome changes, not on every lookup; counted in stats().
//
// Why the Dataplane's methods and not the admin core (admin/core/admin_api.h):
// the core transcodes nib.admin.v1 requests and makes each change durable in
// the state file (--state), which is exactly what discovered backends must
// not be; they are marked instead (BackendConfig::source = "dns"), shown in
// the backend views as such, and left out of the state file. The Dataplane
// validates (the registry's range checks) and announces every change on its
// event bus as for an operator's change, so the REST events stream and the
// logs see them. Only backends marked "dns" are ever changed or removed here:
// a configured or operator-added backend at the same address is left alone.
//
// A reload restarts discovery (App::on_reload): the running discovered
// backends are kept through the reload (the file's list plus them) and the
// new DnsDiscovery takes them over by their mark, so nothing is added twice
// (and the drains the old one started, stop()'s Drained, so a record that
// comes back still ends its drain).
//
// Shutdown: the destructor wakes the thread (condition variable) and joins
// it; a query in flight finishes first, bounded by the resolver timeout set
// here (kQueryTimeoutSeconds x kQueryAttempts).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/net/socket_address.h"
#include "server/discovery/dns_discovery_config.h"

namespace nib {

class Dataplane;

// What the discovered backends are marked with (BackendConfig::source).
inline constexpr const char* kDnsSource = "dns";

struct DiscoveredBackend {
  SocketAddress address;
  std::string host;  // the record's name (SRV: its target)
  uint32_t weight = 1;
  uint32_t prio = 0;
  bool operator==(const DiscoveredBackend&) const = default;
};

enum class DnsOutcome : uint8_t {
  kOk,
  kNxdomain,  // the name does not exist
  kNoData,    // the name exists without a record of the type asked
  kServfail,  // SERVFAIL (or another server failure)
  kTimeout,   // no answer
  kError,     // the resolver could not be set up, or an unreadable answer
};
const char* to_string(DnsOutcome outcome);

struct DnsLookup {
  DnsOutcome outcome = DnsOutcome::kError;
  std::vector<DiscoveredBackend> backends;  // kOk: at least one, no address twice
  std::string detail;                       // for the log, when not kOk
};

// Asks once (the calling thread blocks for the answer). Any thread.
DnsLookup dns_lookup(const DnsDiscoveryConfig& config);

class DnsDiscovery {
 public:
  // One query's wait and tries, per server: a lookup of an unreachable
  // resolver takes at most about their product.
  static constexpr int kQueryTimeoutSeconds = 1;
  static constexpr int kQueryAttempts = 2;

  // Told of every lookup, on the discovery thread: the service, the outcome
  // and (kOk) how many backends the records gave. For /metrics.
  using LookupObserver = std::function<void(const std::string& service, DnsOutcome outcome, uint32_t backends)>;

  // The addresses (SocketAddress::to_string()) of the backends a discovery
  // drained because their records went away, by service: handed from the
  // discovery a reload stops to the one it starts, so a record that comes
  // back still ends that drain.
  using Drained = std::map<std::string, std::set<std::string>>;

  // Starts the thread; every name is looked up at once, then every interval.
  // `dataplane` must outlive this.
  DnsDiscovery(Dataplane& dataplane, std::vector<DnsDiscoveryConfig> configs, LookupObserver on_lookup = nullptr,
               const Drained& drained = {});
  ~DnsDiscovery();  // stop()
  // Wakes the thread and joins it (a lookup in flight finishes first); then
  // what it had drained. Idempotent.
  Drained stop();
  DnsDiscovery(const DnsDiscovery&) = delete;
  DnsDiscovery& operator=(const DnsDiscovery&) = delete;

  struct Stats {
    std::string service;
    uint64_t lookups_ok = 0;
    uint64_t lookups_failed = 0;
    uint32_t backends = 0;  // in the records at the last good lookup
  };
  // Any thread.
  std::vector<Stats> stats() const;
  const std::vector<DnsDiscoveryConfig>& configs() const { return configs_; }

 private:
  struct Entry;
  void run();
  void lookup_and_apply(Entry& entry);
  void apply(Entry& entry, const std::vector<DiscoveredBackend>& want);

  Dataplane& dataplane_;
  const std::vector<DnsDiscoveryConfig> configs_;
  const LookupObserver on_lookup_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // under mu_
  std::thread thread_;  // last: started once everything above is
};

}  // namespace nib
