#pragma once
// Network namespaces a test builds for itself (root only): private networks
// for what loopback cannot show, such as a backend seeing the client's own
// address. Everything lives inside the namespaces, so deleting them (the
// destructor, on every exit path) removes every interface and route.
#include <memory>
#include <string>

#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"

namespace nib::test {

// Can this process build namespaces (root, `ip` installed)?
bool can_build_namespaces();

// Runs `command` through /bin/sh: its output (stderr too), or an error with
// the output when it exits non-zero.
Result<std::string> command_output(const std::string& command);
// The same when only success matters.
Status run_command(const std::string& command);

class NetNamespace {
 public:
  // "nibt-<pid>-<tag>" with its loopback up. Namespaces of earlier test
  // processes that died without cleaning up (their pid is gone) are deleted
  // first.
  static Result<std::unique_ptr<NetNamespace>> create(const std::string& tag);
  ~NetNamespace();  // ip netns del: its interfaces go with it
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  const std::string& name() const { return name_; }
  // `ip ARGS` run inside the namespace.
  [[nodiscard]] Status ip(const std::string& args) const;
  // A veth pair between this namespace and `peer`: `name` here with `cidr`,
  // `peer_name` there with `peer_cidr`, both up.
  [[nodiscard]] Status link(const std::string& name, const std::string& cidr, const NetNamespace& peer,
                            const std::string& peer_name, const std::string& peer_cidr) const;

  // A veth from this namespace (`name`, with `cidr`) to a port of `bridge` in
  // `sw`, which is created (up) the first time: namespaces plugged into one
  // bridge share a segment, as hosts on one switch do.
  [[nodiscard]] Status plug(const std::string& name, const std::string& cidr, const NetNamespace& sw,
                            const std::string& bridge) const;

  // While an Enter lives, the calling thread is inside the namespace: the
  // sockets it makes meanwhile belong there (and stay there afterwards).
  class Enter {
   public:
    explicit Enter(const NetNamespace& ns);
    ~Enter();  // back to the namespace the thread was in
    Enter(const Enter&) = delete;
    Enter& operator=(const Enter&) = delete;
    bool ok() const { return ok_; }

   private:
    UniqueFd home_;
    bool ok_ = false;
  };

 private:
  explicit NetNamespace(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

}  // namespace nib::test
