#pragma once
// A real etcd cluster for the shared-registry tests: Debian's etcd-server,
// N members on loopback ports (or on another address inside a network
// namespace), each with its data in the test's directory.
// Members can be killed and started again on the same data (an outage and
// its recovery). Everything is killed when the object goes.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "tests/support/nib_process.h"

namespace nib::test {

inline constexpr const char* kEtcdBinary = "/usr/bin/etcd";
inline constexpr const char* kEtcdctlBinary = "/usr/bin/etcdctl";

class TestEtcdCluster {
 public:
  static bool installed();

  // `dir`: where the members' data directories go (the test's TempDir).
  // `ip`: the address the members listen on. `netns`: when not empty, the
  // members and etcdctl run in that network namespace (`ip netns exec`,
  // which execs them: each process is etcd's own), so `ip` is one of that
  // namespace's addresses and the endpoints are reached from there (or from
  // namespaces routed to it), not from the test process's namespace.
  TestEtcdCluster(const std::string& dir, int members, std::string ip = "127.0.0.1", std::string netns = "");
  ~TestEtcdCluster();
  TestEtcdCluster(const TestEtcdCluster&) = delete;
  TestEtcdCluster& operator=(const TestEtcdCluster&) = delete;

  // Before start(): clients must speak TLS (https), with a certificate the
  // CA signed (the members present `cert_file`, which must name the listen
  // IP; etcdctl presents it too).
  struct Tls {
    std::string ca_file, cert_file, key_file;
  };
  void set_tls(Tls tls) { tls_ = std::move(tls); }
  // etcdctl's --user (USER:PASSWORD), once authentication is on.
  void set_user(std::string user) { user_ = std::move(user); }

  // Starts every member; returns once each serves clients.
  Status start();
  // SIGKILL: member i is gone mid-flight, as a crash.
  void kill(int i);
  // Member i again, on its data; returns once it serves clients (the others
  // must be up: a member serves once the cluster has a quorum).
  Status restart(int i);
  // Every member again on its data (after kill() of all): started together,
  // as a member alone has no quorum.
  Status restart_all();
  bool running(int i);

  int size() const { return static_cast<int>(members_.size()); }
  // "http://IP:PORT" of member i, and all of them comma-separated.
  std::string endpoint(int i) const;
  std::string endpoints() const;
  std::vector<std::string> endpoint_list() const;
  std::string output(int i) const;

  // etcdctl against the cluster (e.g. {"get", "/nib/", "--prefix"}); its
  // stdout, or an error with its output.
  Result<std::string> etcdctl(const std::vector<std::string>& args) const;
  // Compacts the history up to the current revision (a watcher resuming
  // from before it must read everything again).
  Status compact() const;

 private:
  struct Member {
    std::string name;
    uint16_t client_port = 0, peer_port = 0;
    std::unique_ptr<NibProcess> process;
  };
  Status start_member(int i, bool existing);
  // `path` with `args`, inside the namespace when there is one.
  Result<std::unique_ptr<NibProcess>> run(const std::string& path, const std::vector<std::string>& args) const;
  std::string url(uint16_t port) const;

  std::string dir_;
  std::string ip_, netns_;
  std::optional<Tls> tls_;
  std::string user_;
  std::string token_;
  std::vector<Member> members_;
};

}  // namespace nib::test
