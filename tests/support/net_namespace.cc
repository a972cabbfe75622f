#include "tests/support/net_namespace.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>

namespace nib::test {
namespace {

constexpr const char* kPrefix = "nibt-";

// Deletes the namespaces named nibt-<pid>-* of processes that are gone.
void sweep_stale() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(kPrefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + std::char_traits<char>::length(kPrefix), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      (void)run_command("ip netns del " + name);
    }
  }
}

}  // namespace

bool can_build_namespaces() {
  return ::geteuid() == 0 && run_command("ip -V").ok();
}

Result<std::string> command_output(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return Status::invalid("cannot run: " + command);
  std::string output;
  std::array<char, 512> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) output.append(buf.data(), n);
  const int rc = ::pclose(p);
  if (rc != 0) return Status::invalid(command + " failed (" + std::to_string(rc) + "): " + output);
  return output;
}

Status run_command(const std::string& command) { return command_output(command).status(); }

Result<std::unique_ptr<NetNamespace>> NetNamespace::create(const std::string& tag) {
  sweep_stale();
  std::unique_ptr<NetNamespace> ns(new NetNamespace(kPrefix + std::to_string(::getpid()) + "-" + tag));
  (void)run_command("ip netns del " + ns->name_);  // a leftover of this pid's earlier life
  if (Status st = run_command("ip netns add " + ns->name_); !st.ok()) {
    ns->name_.clear();  // not ours to delete
    return st;
  }
  if (Status st = ns->ip("link set lo up"); !st.ok()) return st;
  return ns;
}

NetNamespace::~NetNamespace() {
  if (!name_.empty()) (void)run_command("ip netns del " + name_);
}

Status NetNamespace::ip(const std::string& args) const { return run_command("ip -n " + name_ + " " + args); }

Status NetNamespace::link(const std::string& name, const std::string& cidr, const NetNamespace& peer,
                          const std::string& peer_name, const std::string& peer_cidr) const {
  if (Status st = ip("link add " + name + " type veth peer name " + peer_name + " netns " + peer.name()); !st.ok()) {
    return st;
  }
  if (Status st = ip("addr add " + cidr + " dev " + name); !st.ok()) return st;
  if (Status st = ip("link set " + name + " up"); !st.ok()) return st;
  if (Status st = peer.ip("addr add " + peer_cidr + " dev " + peer_name); !st.ok()) return st;
  return peer.ip("link set " + peer_name + " up");
}

Status NetNamespace::plug(const std::string& name, const std::string& cidr, const NetNamespace& sw,
                          const std::string& bridge) const {
  if (!sw.ip("link show " + bridge).ok()) {
    if (Status st = sw.ip("link add " + bridge + " type bridge"); !st.ok()) return st;
    if (Status st = sw.ip("link set " + bridge + " up"); !st.ok()) return st;
  }
  // The switch side is named after this namespace's tag, unique on the bridge.
  const std::string port = "p" + name_.substr(name_.rfind('-') + 1);
  if (Status st = ip("link add " + name + " type veth peer name " + port + " netns " + sw.name()); !st.ok()) return st;
  if (Status st = ip("addr add " + cidr + " dev " + name); !st.ok()) return st;
  if (Status st = ip("link set " + name + " up"); !st.ok()) return st;
  if (Status st = sw.ip("link set " + port + " master " + bridge); !st.ok()) return st;
  return sw.ip("link set " + port + " up");
}

NetNamespace::Enter::Enter(const NetNamespace& ns) : home_(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) {
  UniqueFd target(::open(("/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC));
  ok_ = home_ && target && ::setns(target.get(), CLONE_NEWNET) == 0;
}

NetNamespace::Enter::~Enter() {
  if (ok_) (void)::setns(home_.get(), CLONE_NEWNET);
}

}  // namespace nib::test
