#include "tests/support/test_etcd.h"

#include <unistd.h>

#include <chrono>

#include "tests/support/test_client.h"

namespace nib::test {

using namespace std::chrono_literals;

bool TestEtcdCluster::installed() { return ::access(kEtcdBinary, X_OK) == 0 && ::access(kEtcdctlBinary, X_OK) == 0; }

TestEtcdCluster::TestEtcdCluster(const std::string& dir, int members, std::string ip, std::string netns)
    : dir_(dir),
      ip_(std::move(ip)),
      netns_(std::move(netns)),
      token_("nib-test-" + std::to_string(::getpid()) + "-" + std::to_string(free_port())) {
  for (int i = 0; i < members; ++i) {
    Member m;
    m.name = "m" + std::to_string(i);
    m.client_port = free_port();
    m.peer_port = free_port();
    members_.push_back(std::move(m));
  }
}

TestEtcdCluster::~TestEtcdCluster() = default;

std::string TestEtcdCluster::url(uint16_t port) const { return "http://" + ip_ + ":" + std::to_string(port); }

std::string TestEtcdCluster::endpoint(int i) const {
  const std::string plain = url(members_[static_cast<size_t>(i)].client_port);
  return tls_ ? "https" + plain.substr(4) : plain;  // peers stay http
}

Result<std::unique_ptr<NibProcess>> TestEtcdCluster::run(const std::string& path,
                                                         const std::vector<std::string>& args) const {
  if (netns_.empty()) return NibProcess::start_program(path, args);
  std::vector<std::string> all = {"netns", "exec", netns_, path};
  all.insert(all.end(), args.begin(), args.end());
  return NibProcess::start_program("/bin/ip", all);
}

std::vector<std::string> TestEtcdCluster::endpoint_list() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(endpoint(i));
  return out;
}

std::string TestEtcdCluster::endpoints() const {
  std::string out;
  for (const auto& e : endpoint_list()) out += (out.empty() ? "" : ",") + e;
  return out;
}

std::string TestEtcdCluster::output(int i) const {
  const auto& p = members_[static_cast<size_t>(i)].process;
  return p ? p->output() : std::string();
}

bool TestEtcdCluster::running(int i) {
  auto& p = members_[static_cast<size_t>(i)].process;
  return p && p->running();
}

Status TestEtcdCluster::start_member(int i, bool existing) {
  Member& m = members_[static_cast<size_t>(i)];
  std::string cluster;
  for (const auto& other : members_) {
    cluster += (cluster.empty() ? "" : ",") + other.name + "=" + url(other.peer_port);
  }
  const std::string client = endpoint(i);
  const std::string peer = url(m.peer_port);
  // Short heartbeats and elections: a killed leader is replaced in about a
  // second, not ten.
  std::vector<std::string> args = {"--name=" + m.name,
                                   "--data-dir=" + dir_ + "/etcd-" + m.name,
                                   "--listen-client-urls=" + client,
                                   "--advertise-client-urls=" + client,
                                   "--listen-peer-urls=" + peer,
                                   "--initial-advertise-peer-urls=" + peer,
                                   "--initial-cluster=" + cluster,
                                   "--initial-cluster-token=" + token_,
                                   std::string("--initial-cluster-state=") + (existing ? "existing" : "new"),
                                   "--heartbeat-interval=50",
                                   "--election-timeout=500",
                                   "--logger=zap",
                                   "--log-outputs=stderr"};
  if (tls_) {
    args.insert(args.end(), {"--cert-file=" + tls_->cert_file, "--key-file=" + tls_->key_file,
                             "--trusted-ca-file=" + tls_->ca_file, "--client-cert-auth"});
  }
  auto p = run(kEtcdBinary, args);
  if (!p.ok()) return p.status();
  m.process = std::move(*p);
  return {};
}

Status TestEtcdCluster::start() {
  for (int i = 0; i < size(); ++i) {
    if (Status st = start_member(i, false); !st.ok()) return st;
  }
  for (int i = 0; i < size(); ++i) {
    auto& p = members_[static_cast<size_t>(i)].process;
    if (!p->wait_for_output("serving client traffic", 30s)) {
      return Status::unavailable("etcd member " + std::to_string(i) + " did not start: " + p->output());
    }
  }
  // Serving, and a leader elected: a write goes through.
  if (!wait_until([&] { return etcdctl({"put", "/nib-test/ready", "1"}).ok(); }, 30s)) {
    return Status::unavailable("the etcd cluster does not take writes: " + output(0));
  }
  return {};
}

void TestEtcdCluster::kill(int i) { members_[static_cast<size_t>(i)].process.reset(); }

Status TestEtcdCluster::restart(int i) {
  kill(i);
  if (Status st = start_member(i, true); !st.ok()) return st;
  auto& p = members_[static_cast<size_t>(i)].process;
  if (!p->wait_for_output("serving client traffic", 30s)) {
    return Status::unavailable("etcd member " + std::to_string(i) + " did not start again: " + p->output());
  }
  return {};
}

Status TestEtcdCluster::restart_all() {
  for (int i = 0; i < size(); ++i) {
    kill(i);
    if (Status st = start_member(i, true); !st.ok()) return st;
  }
  for (int i = 0; i < size(); ++i) {
    auto& p = members_[static_cast<size_t>(i)].process;
    if (!p->wait_for_output("serving client traffic", 30s)) {
      return Status::unavailable("etcd member " + std::to_string(i) + " did not start again: " + p->output());
    }
  }
  return {};
}

Result<std::string> TestEtcdCluster::etcdctl(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {"--endpoints=" + endpoints(), "--command-timeout=5s"};
  if (tls_) all.insert(all.end(), {"--cacert=" + tls_->ca_file, "--cert=" + tls_->cert_file, "--key=" + tls_->key_file});
  if (!user_.empty()) all.push_back("--user=" + user_);
  all.insert(all.end(), args.begin(), args.end());
  auto p = run(kEtcdctlBinary, all);
  if (!p.ok()) return p.status();
  auto code = (*p)->wait_exit(15s);
  (void)(*p)->wait_output_closed(5s);
  if (!code || *code != 0) return Status::unavailable("etcdctl failed: " + (*p)->output());
  return (*p)->stdout_output();
}

Status TestEtcdCluster::compact() const {
  // The revision from the header of a read: etcdctl get -w json.
  auto out = etcdctl({"get", "/nib-test/ready", "-w", "json"});
  if (!out.ok()) return out.status();
  const std::string key = "\"revision\":";
  auto at = out->find(key);
  if (at == std::string::npos) return Status::unavailable("no revision in: " + *out);
  const long long revision = std::stoll(out->substr(at + key.size()));
  auto compacted = etcdctl({"compact", std::to_string(revision)});
  return compacted.ok() ? Status() : compacted.status();
}

}  // namespace nib::test
