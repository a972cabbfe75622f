#pragma once
// Reads a TLS service's certificate files again when they change on disk
// (tls.watch_interval), so a Kubernetes Secret rotated under a running pod
// reaches new clients without a restart or a SIGHUP. A change that does not
// load (a half-written pair, a wrong key) keeps the certificates in use and
// is logged once; the next change is tried again. A service's backend_tls
// files (client certificate, key, CAs) are watched with the same interval:
// a change is checked and logged, and applied by the next reload.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/base/clock.h"
#include "dataplane/config/service_config.h"

namespace nib {

class Dataplane;

class CertificateWatcher {
 public:
  // `dataplane` outlives the watcher.
  explicit CertificateWatcher(Dataplane& dataplane);
  ~CertificateWatcher();  // stops and joins
  CertificateWatcher(const CertificateWatcher&) = delete;
  CertificateWatcher& operator=(const CertificateWatcher&) = delete;

  // Main thread (start, reload). Watches the services of `services` with TLS
  // on either hop (tls or backend_tls) and a tls.watch_interval, their files
  // as they are now (what the running terminators and connectors were made
  // from); starts the thread on the first such service. Replaces what was
  // watched before.
  void watch(const std::vector<ServiceConfig>& services);

 private:
  // What a service's files look like: each file's identity, size and mtime
  // (an SNI directory's entries included). Equal: nothing changed.
  using Fingerprint = std::vector<std::string>;
  struct Watched {
    std::string service;
    TlsConfig tls;
    BackendTlsConfig backend_tls;
    Duration interval{};
    MonoTime next{};
    Fingerprint seen;
    Fingerprint backend_seen;  // backend_tls's client certificate, key and CAs
  };
  static Fingerprint fingerprint(const TlsConfig& tls);
  static Fingerprint fingerprint(const BackendTlsConfig& backend);
  void run();
  // Watcher thread: reads `w`'s files again if they changed.
  void check(Watched& w);
  // Watcher thread: reads `w`'s backend_tls files again if they changed;
  // connections made from then on use them (a bad change keeps the old).
  void check_backend(Watched& w);

  Dataplane& dataplane_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Watched> watched_;  // guarded by mu_
  bool stop_ = false;             // guarded by mu_
  std::thread thread_;
};

}  // namespace nib
