#include "admin/registry/etcd_registry.h"

#include <unistd.h>

#include <algorithm>

#include <google/protobuf/util/json_util.h>

#include "dataplane/base/log.h"
#include "dataplane/dataplane.h"
#include "nib/admin/v1/state.pb.h"

namespace nib::admin {
namespace {

constexpr std::string_view kServices = "services/";
constexpr std::string_view kInitialized = "initialized";
// etcd refuses a transaction of more than 128 operations (--max-txn-ops).
constexpr size_t kOpsPerTxn = 100;

std::string to_json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string text;
  // Printing a message built from checked records cannot fail.
  (void)google::protobuf::util::MessageToJsonString(m, &text, options);
  return text;
}

Status from_json(const std::string& text, google::protobuf::Message* m) {
  google::protobuf::util::JsonParseOptions options;
  // A newer nib may add fields during a rolling upgrade: what this one knows
  // still applies.
  options.ignore_unknown_fields = true;
  auto parsed = google::protobuf::util::JsonStringToMessage(text, m, options);
  if (!parsed.ok()) return Status::invalid(std::string(parsed.message()));
  return {};
}

void add_put(etcdserverpb::TxnRequest* txn, const std::string& key, const std::string& value) {
  auto* put = txn->add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
}

void add_compare(etcdserverpb::TxnRequest* txn, const std::string& key, etcdserverpb::Compare::CompareTarget target,
                 int64_t revision) {
  auto* c = txn->add_compare();
  c->set_key(key);
  c->set_result(etcdserverpb::Compare::EQUAL);
  c->set_target(target);
  if (target == etcdserverpb::Compare::MOD) c->set_mod_revision(revision);
  if (target == etcdserverpb::Compare::CREATE) c->set_create_revision(revision);
}

}  // namespace

EtcdRegistry::Objects EtcdRegistry::to_objects(const etcdserverpb::RangeResponse& r) {
  Objects out;
  for (const auto& kv : r.kvs()) out[kv.key()] = Object{kv.value(), kv.mod_revision()};
  return out;
}

bool EtcdRegistry::initialized(const etcdserverpb::RangeResponse& r) const {
  const std::string marker = options_.prefix + std::string(kInitialized);
  return std::any_of(r.kvs().begin(), r.kvs().end(),
                     [&](const etcdserverpb::KeyValue& kv) { return kv.key() == marker; });
}

namespace {

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

}  // namespace

EtcdRegistry::EtcdRegistry(EtcdRegistryOptions options) : options_(std::move(options)), client_(options_.etcd) {
  counters_.store = "etcd";
}

EtcdRegistry::~EtcdRegistry() { stop(); }

std::string EtcdRegistry::service_prefix(const std::string& service) const {
  return options_.prefix + std::string(kServices) + service + "/";
}

std::string EtcdRegistry::service_of(const std::string& key) const {
  const std::string services = options_.prefix + std::string(kServices);
  if (key.compare(0, services.size(), services) != 0) return "";
  size_t end = key.find('/', services.size());
  if (end == std::string::npos) return "";
  return key.substr(services.size(), end - services.size());
}

// ---- Objects <-> a service's state.

Result<std::optional<SavedService>> EtcdRegistry::assemble(const std::string& service, const Objects& objects) const {
  const std::string prefix = service_prefix(service);
  v1::StateService in;
  in.set_name(service);
  bool any = false;
  for (auto it = objects.lower_bound(prefix); it != objects.end() && it->first.starts_with(prefix); ++it) {
    const std::string kind = it->first.substr(prefix.size());
    Status st;
    if (kind == "policy") {
      st = from_json(it->second.value, in.mutable_policy());
    } else if (kind == "client_acl") {
      st = from_json(it->second.value, in.mutable_client_acl());
    } else if (kind.starts_with("backends/")) {
      st = from_json(it->second.value, in.add_backends());
    } else if (kind.starts_with("pins/")) {
      st = from_json(it->second.value, in.add_pins());
    } else {
      continue;  // a kind of a newer nib
    }
    if (!st.ok()) return Status::invalid("registry key " + it->first + ": " + st.message());
    any = true;
  }
  if (!any) return std::optional<SavedService>();
  auto saved = read_service(in, "registry, service '" + service + "': ");
  if (!saved.ok()) return saved.status();
  if (!in.has_policy() && dataplane_ != nullptr) {  // not written yet: the running one stays
    if (auto running = dataplane_->policy(service); running.ok()) saved->policy = *running;
    saved->has_connect_timeout = saved->has_idle_timeout = saved->has_max_connections = saved->has_pending_max =
        saved->has_idlers = true;
  }
  return std::optional<SavedService>(std::move(*saved));
}

std::map<std::string, std::string> EtcdRegistry::encode(const SavedService& saved) const {
  v1::StateService out;
  SavedService shared = saved;
  shared.tls.reset();  // certificates are each replica's files
  save_service(shared, &out);
  const std::string prefix = service_prefix(saved.name);
  std::map<std::string, std::string> kv;
  kv[prefix + "policy"] = to_json(out.policy());
  if (out.has_client_acl()) kv[prefix + "client_acl"] = to_json(out.client_acl());
  for (const auto& b : out.backends()) kv[prefix + "backends/" + b.address()] = to_json(b);
  for (const auto& p : out.pins()) kv[prefix + "pins/" + p.prefix()] = to_json(p);
  return kv;
}

EtcdRegistry::Objects EtcdRegistry::cached_service(const std::string& service) const {
  const std::string prefix = service_prefix(service);
  std::lock_guard lock(mutex_);
  Objects out;
  for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.starts_with(prefix); ++it) {
    out.insert(*it);
  }
  return out;
}

Result<EtcdRegistry::Objects> EtcdRegistry::fetch_service(const std::string& service, int64_t* revision) {
  auto r = client_.range_prefix(service_prefix(service));
  if (!r.ok()) return r.status();
  record_contact(r->header().revision());
  if (revision) *revision = r->header().revision();
  return to_objects(*r);
}

SavedState EtcdRegistry::state() const {
  Objects objects;
  {
    std::lock_guard lock(mutex_);
    objects = objects_;
  }
  std::set<std::string> services;
  for (const auto& [key, _] : objects) {
    if (std::string s = service_of(key); !s.empty()) services.insert(s);
  }
  SavedState state;
  for (const auto& s : services) {
    auto saved = assemble(s, objects);
    if (saved.ok() && *saved) state.services.push_back(std::move(**saved));
  }
  return state;
}

// ---- Start and stop.

Result<std::optional<SavedState>> EtcdRegistry::load() {
  auto r = client_.range_prefix(options_.prefix);
  if (!r.ok()) {
    record_failure(r.status());
    return r.status();
  }
  record_contact(r->header().revision());
  {
    std::lock_guard lock(mutex_);
    ++counters_.resyncs;
  }
  if (!initialized(*r)) return std::optional<SavedState>();
  {
    std::lock_guard lock(mutex_);
    objects_ = to_objects(*r);
    applied_revision_ = r->header().revision();
  }
  return std::optional<SavedState>(state());
}

void EtcdRegistry::start(Dataplane& dataplane) {
  dataplane_ = &dataplane;
  watcher_ = std::thread([this] { run(); });
}

void EtcdRegistry::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    if (watch_) watch_->cancel();
  }
  changed_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

bool EtcdRegistry::pause(std::chrono::milliseconds interval) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, interval, [&] { return stopping_; });
  return !stopping_;
}

// ---- The watcher.

void EtcdRegistry::run() {
  bool need_resync = false;
  {
    std::lock_guard lock(mutex_);
    need_resync = applied_revision_ == 0;  // load() found nothing (or failed)
  }
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    if (need_resync) {
      if (!resync()) {
        if (!pause(options_.retry_interval)) return;
        continue;
      }
      need_resync = false;
    }
    int64_t from = 0;
    {
      std::lock_guard lock(mutex_);
      from = applied_revision_ + 1;
    }
    auto opened = client_.watch(options_.prefix, from);
    if (!opened.ok()) {
      record_failure(opened.status());
      if (!pause(options_.retry_interval)) return;
      continue;
    }
    EtcdClient::Watch* watch = opened->get();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      watch_ = std::move(*opened);
    }
    etcdserverpb::WatchResponse response;
    while (watch->next(&response)) {
      if (response.compact_revision() > 0 || response.canceled()) {
        // The history from `from` is gone (compacted): read everything again.
        log_info("shared registry: etcd no longer has the history from revision " + std::to_string(from) +
                 (response.compact_revision() > 0 ? " (compacted to " + std::to_string(response.compact_revision()) + ")"
                                                  : " (" + response.cancel_reason() + ")") +
                 "; reading the registry again");
        need_resync = true;
        break;
      }
      record_contact(response.header().revision());
      if (response.created()) continue;
      std::set<std::string> services;
      int64_t revision = response.header().revision();
      {
        std::lock_guard lock(mutex_);
        for (const auto& e : response.events()) {
          if (e.type() == etcdserverpb::Event::DELETE) {
            objects_.erase(e.kv().key());
          } else {
            objects_[e.kv().key()] = Object{e.kv().value(), e.kv().mod_revision()};
          }
          if (std::string s = service_of(e.kv().key()); !s.empty()) services.insert(s);
        }
        // Events come in revision order; the header may be ahead of them
        // (writes outside the prefix), and is what progress says.
        if (!response.events().empty()) revision = response.events().rbegin()->kv().mod_revision();
      }
      apply(services);
      set_applied(revision);
    }
    // The stream stays open on etcd's side after a canceled watch: end it
    // here, or finish() would wait for it.
    if (need_resync) watch->cancel();
    Status ended = watch->finish();
    {
      std::lock_guard lock(mutex_);
      watch_.reset();
      if (stopping_) return;
      if (need_resync) continue;  // read everything now, no pause
      ++counters_.reconnects;
    }
    record_failure(ended);
    if (!pause(options_.retry_interval)) return;
  }
}

bool EtcdRegistry::resync() {
  auto r = client_.range_prefix(options_.prefix);
  if (!r.ok()) {
    record_failure(r.status());
    return false;
  }
  if (!initialized(*r)) {
    if (Status st = initialize(); !st.ok()) {
      record_failure(st);
      return false;
    }
    r = client_.range_prefix(options_.prefix);
    if (!r.ok()) {
      record_failure(r.status());
      return false;
    }
  }
  record_contact(r->header().revision());
  std::set<std::string> services;
  {
    std::lock_guard lock(mutex_);
    ++counters_.resyncs;
    for (const auto& [key, _] : objects_) services.insert(service_of(key));
    objects_ = to_objects(*r);
    for (const auto& [key, _] : objects_) services.insert(service_of(key));
  }
  services.erase("");
  apply(services);
  set_applied(r->header().revision());
  return true;
}

Status EtcdRegistry::initialize() {
  SavedState running = capture_state(*dataplane_);
  std::vector<std::pair<std::string, std::string>> puts;
  for (const auto& s : running.services) {
    for (auto& kv : encode(s)) puts.emplace_back(kv.first, std::move(kv.second));
  }
  const std::string marker = options_.prefix + std::string(kInitialized);
  // The marker goes first, alone in its guard: one replica initializes.
  etcdserverpb::TxnRequest first;
  add_compare(&first, marker, etcdserverpb::Compare::CREATE, 0);
  add_put(&first, marker, "{\"by\":\"" + host_name() + "\"}");
  size_t next = 0;
  for (; next < puts.size() && first.success_size() < static_cast<int>(kOpsPerTxn); ++next) {
    add_put(&first, puts[next].first, puts[next].second);
  }
  auto r = client_.txn(first);
  if (!r.ok()) return r.status();
  if (!r->succeeded()) return {};  // another replica did it
  while (next < puts.size()) {
    etcdserverpb::TxnRequest more;
    for (; next < puts.size() && more.success_size() < static_cast<int>(kOpsPerTxn); ++next) {
      // Not over what another replica wrote meanwhile.
      add_compare(&more, puts[next].first, etcdserverpb::Compare::CREATE, 0);
      add_put(&more, puts[next].first, puts[next].second);
    }
    auto written = client_.txn(more);
    if (!written.ok()) return written.status();
  }
  log_info("shared registry: wrote this replica's " + std::to_string(puts.size()) + " object(s) under " +
           options_.prefix + " (it was empty)");
  return {};
}

void EtcdRegistry::apply(const std::set<std::string>& services) {
  if (services.empty()) return;
  Objects objects;
  {
    std::lock_guard lock(mutex_);
    objects = objects_;
  }
  const std::vector<std::string> running = dataplane_->service_names();
  for (const auto& service : services) {
    if (std::find(running.begin(), running.end(), service) == running.end()) continue;  // another config's
    auto saved = assemble(service, objects);
    Status st = saved.ok() ? Status() : saved.status();
    if (st.ok() && *saved) st = reconcile_service(*dataplane_, **saved);
    if (!st.ok()) {
      log_warn("shared registry: cannot apply service '" + service + "': " + st.message());
      std::lock_guard lock(mutex_);
      ++counters_.apply_errors;
    }
  }
}

void EtcdRegistry::set_applied(int64_t revision) {
  {
    std::lock_guard lock(mutex_);
    applied_revision_ = std::max(applied_revision_, revision);
  }
  changed_.notify_all();
}

void EtcdRegistry::record_contact(int64_t revision) {
  bool back = false;
  {
    std::lock_guard lock(mutex_);
    back = !connected_ && last_contact_.has_value();
    connected_ = true;
    last_contact_ = MonoClock::now();
    known_revision_ = std::max(known_revision_, revision);
    last_error_.clear();
  }
  if (back) log_info("shared registry: etcd reachable again (" + client_.current_endpoint() + ")");
}

void EtcdRegistry::record_failure(const Status& st) {
  bool was = false;
  {
    std::lock_guard lock(mutex_);
    was = connected_;
    connected_ = false;
    last_error_ = st.message();
  }
  if (was) log_warn("shared registry: " + st.message() + "; serving the last state read, changes refused until etcd answers");
}

// ---- Changes.

Status EtcdRegistry::change(const std::string& service, const Edit& edit) {
  if (dataplane_ == nullptr) return Status(StatusCode::kUnavailable, "the shared registry is not started yet");
  Objects current = cached_service(service);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto assembled = assemble(service, current);
    if (!assembled.ok()) return assembled.status();
    SavedService edited;
    if (*assembled) {
      edited = std::move(**assembled);
    } else {  // not shared yet: what this replica runs
      auto running = capture_service(*dataplane_, service);
      if (!running) return Status(StatusCode::kNotFound, "no service '" + service + "'");
      edited = std::move(*running);
    }
    edited.tls.reset();
    if (Status st = edit(edited); !st.ok()) return st;
    if (Status st = check_state(SavedState{{edited}}); !st.ok()) return st;
    const auto wanted = encode(edited);
    etcdserverpb::TxnRequest txn;
    for (const auto& [key, value] : wanted) {
      auto have = current.find(key);
      if (have != current.end() && have->second.value == value) continue;
      if (have == current.end()) {
        add_compare(&txn, key, etcdserverpb::Compare::CREATE, 0);
      } else {
        add_compare(&txn, key, etcdserverpb::Compare::MOD, have->second.mod_revision);
      }
      add_put(&txn, key, value);
    }
    for (const auto& [key, object] : current) {
      if (wanted.count(key)) continue;
      add_compare(&txn, key, etcdserverpb::Compare::MOD, object.mod_revision);
      auto* del = txn.add_success()->mutable_request_delete_range();
      del->set_key(key);
    }
    if (txn.success_size() == 0) return {};  // already so
    auto written = client_.txn(txn);
    if (!written.ok()) {
      {
        std::lock_guard lock(mutex_);
        ++counters_.write_failures;
      }
      return Status(StatusCode::kUnavailable, "the shared registry (etcd) did not take the change: " +
                                                  written.status().message() + "; nothing changed, try again");
    }
    record_contact(written->header().revision());
    if (written->succeeded()) {
      {
        std::lock_guard lock(mutex_);
        ++counters_.writes;
      }
      return wait_applied(written->header().revision());
    }
    {
      std::lock_guard lock(mutex_);
      ++counters_.conflicts;
    }
    auto fresh = fetch_service(service, nullptr);
    if (!fresh.ok()) {
      std::lock_guard lock(mutex_);
      ++counters_.write_failures;
      return Status(StatusCode::kUnavailable, "the shared registry (etcd) cannot be read: " +
                                                  fresh.status().message() + "; nothing changed, try again");
    }
    current = std::move(*fresh);
  }
  return Status(StatusCode::kUnavailable, "the shared registry: service '" + service + "' changed under " +
                                              std::to_string(kMaxAttempts) + " attempts in a row; try again");
}

Status EtcdRegistry::wait_applied(int64_t revision) {
  std::unique_lock lock(mutex_);
  bool applied = changed_.wait_for(lock, options_.apply_timeout,
                                   [&] { return applied_revision_ >= revision || stopping_; });
  if (applied && applied_revision_ >= revision) return {};
  return Status(StatusCode::kUnavailable, "written to the shared registry (revision " + std::to_string(revision) +
                                              ") but not applied here yet" +
                                              (last_error_.empty() ? "" : ": " + last_error_) +
                                              "; this replica applies it once its watch catches up");
}

RegistryStatus EtcdRegistry::status() const {
  std::lock_guard lock(mutex_);
  RegistryStatus s = counters_;
  s.endpoints = options_.etcd.endpoints;
  s.endpoint = client_.current_endpoint();
  s.prefix = options_.prefix;
  s.connected = connected_;
  s.applied_revision = applied_revision_;
  s.known_revision = known_revision_;
  if (last_contact_) s.seconds_since_contact = std::chrono::duration<double>(MonoClock::now() - *last_contact_).count();
  s.last_error = last_error_;
  return s;
}

Status EtcdRegistry::health() const {
  std::lock_guard lock(mutex_);
  if (connected_) return {};
  return Status(StatusCode::kUnavailable, "shared registry (etcd): " + last_error_);
}

}  // namespace nib::admin
