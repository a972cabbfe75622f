#include "server/tls/certificate_watcher.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "dataplane/base/log.h"
#include "dataplane/dataplane.h"
#include "server/tls/openssl_connector.h"
#include "server/tls/openssl_terminator.h"

namespace nib {
namespace {

// One line per file: stat() follows symbolic links, so a Secret volume's
// swapped ..data link shows as a new inode. A missing file is a state too.
void describe_file(const std::string& path, std::vector<std::string>* out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    out->push_back(path + " missing");
    return;
  }
  out->push_back(path + " " + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + " " +
                 std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
                 std::to_string(st.st_mtim.tv_nsec));
}

// Every file of `dir`, as describe_file sees it.
void describe_directory(const std::string& dir, std::vector<std::string>* out) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') names.emplace_back(e->d_name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());  // readdir's order is no order
  for (const auto& n : names) describe_file(dir + "/" + n, out);
}

}  // namespace

CertificateWatcher::CertificateWatcher(Dataplane& dataplane) : dataplane_(dataplane) {}

CertificateWatcher::~CertificateWatcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

CertificateWatcher::Fingerprint CertificateWatcher::fingerprint(const TlsConfig& tls) {
  Fingerprint out;
  for (const std::string* path : {&tls.cert_file, &tls.key_file, &tls.ca_file, &tls.ocsp_response_file}) {
    if (!path->empty()) describe_file(*path, &out);
  }
  for (const std::string* dir : {&tls.ca_dir, &tls.sni_path}) {
    if (!dir->empty()) describe_directory(*dir, &out);
  }
  return out;
}

CertificateWatcher::Fingerprint CertificateWatcher::fingerprint(const BackendTlsConfig& backend) {
  Fingerprint out;
  if (!backend.enabled) return out;
  for (const std::string* path : {&backend.cert_file, &backend.key_file, &backend.ca_file}) {
    if (!path->empty()) describe_file(*path, &out);
  }
  if (!backend.ca_dir.empty()) describe_directory(backend.ca_dir, &out);
  return out;
}

void CertificateWatcher::watch(const std::vector<ServiceConfig>& services) {
  std::vector<Watched> next;
  const MonoTime now = MonoClock::now();
  for (const auto& s : services) {
    if (!(s.tls.enabled() || s.backend_tls.enabled) || s.tls.watch_interval_seconds <= 0) continue;
    const Duration every = seconds_to_duration(s.tls.watch_interval_seconds);
    next.push_back(Watched{s.name, s.tls, s.backend_tls, every, now + every, fingerprint(s.tls),
                           fingerprint(s.backend_tls)});
  }
  {
    std::lock_guard lock(mu_);
    watched_ = std::move(next);
    if (!thread_.joinable() && !watched_.empty()) thread_ = std::thread([this] { run(); });
  }
  wake_.notify_all();
}

void CertificateWatcher::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    MonoTime soonest = MonoTime::max();
    const MonoTime now = MonoClock::now();
    for (auto& w : watched_) {
      if (w.next <= now) {
        check(w);
        w.next = now + w.interval;
      }
      soonest = std::min(soonest, w.next);
    }
    if (soonest == MonoTime::max()) {
      wake_.wait(lock);
    } else {
      wake_.wait_until(lock, soonest);
    }
  }
}

void CertificateWatcher::check(Watched& w) {
  check_backend(w);
  if (!w.tls.enabled()) return;
  bool loaded = false;
  // Under the service's admin lock: settings an operator changed through the
  // API in the meantime are what is watched from now on (the API read their
  // files just now), never overwritten by the files watched before.
  auto done = dataplane_.update_tls(w.service, [&](TlsConfig& in_force) -> Result<std::shared_ptr<const TlsTerminator>> {
    if (in_force != w.tls) {
      w.tls = in_force;
      w.seen = fingerprint(in_force);
      return std::shared_ptr<const TlsTerminator>();
    }
    Fingerprint now = fingerprint(in_force);
    if (now == w.seen) return std::shared_ptr<const TlsTerminator>();
    w.seen = std::move(now);  // a change that fails is reported once, not every interval
    auto made = make_tls_terminator(in_force);
    if (!made.ok()) {
      log_error("service '" + w.service + "': tls: the files changed but do not load: " +
                made.status().message() + "; keeping the certificates in use");
      return std::shared_ptr<const TlsTerminator>();
    }
    loaded = true;
    return std::move(*made);
  });
  if (!done.ok()) {
    log_error("service '" + w.service + "': tls: " + done.status().message());
  } else if (loaded) {
    log_info("service '" + w.service + "': tls: the files changed; new clients get the new certificates");
  }
}

void CertificateWatcher::check_backend(Watched& w) {
  Fingerprint now = fingerprint(w.backend_tls);
  if (now == w.backend_seen) return;
  w.backend_seen = std::move(now);  // a change that fails is reported once, not every interval
  auto made = make_tls_connector(w.backend_tls);
  if (!made.ok()) {
    log_error("service '" + w.service + "': backend_tls: the files changed but do not load: " +
              made.status().message() + "; keeping the settings in use");
    return;
  }
  if (Status st = dataplane_.set_tls_connector(w.service, std::move(*made)); !st.ok()) {
    log_error("service '" + w.service + "': backend_tls: " + st.message());
    return;
  }
  log_info("service '" + w.service + "': backend_tls: the files changed; new backend connections use them");
}

}  // namespace nib
