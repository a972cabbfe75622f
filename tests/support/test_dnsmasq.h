#pragma once
// A real DNS server for the backends_from tests: Debian's dnsmasq
// (dnsmasq-base) in the foreground on a loopback port, answering the names of
// a hosts file in a test's directory (and any extra records given as dnsmasq
// options). Names under nib.test it does not know are NXDOMAIN; it asks no
// other server. Killed when the object goes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "dataplane/net/socket_address.h"
#include "tests/support/nib_process.h"

namespace nib::test {

inline constexpr const char* kDnsmasqBinary = "/usr/sbin/dnsmasq";

class TestDnsmasq {
 public:
  static bool installed();

  // `dir`: where its hosts file goes (the test's TempDir).
  explicit TestDnsmasq(const std::string& dir, std::vector<std::string> extra_options = {});
  ~TestDnsmasq();
  TestDnsmasq(const TestDnsmasq&) = delete;
  TestDnsmasq& operator=(const TestDnsmasq&) = delete;

  // Writes the hosts file ("IP NAME" lines) and starts dnsmasq; returns once
  // it has read the file.
  Status start(const std::string& hosts);
  // A new hosts file, read by dnsmasq (SIGHUP) before this returns.
  Status publish(const std::string& hosts);
  // Kills it: from now on queries to port() are refused.
  void stop();

  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string output() const { return process_ ? process_->output() : std::string(); }

 private:
  size_t reads() const;  // how often it logged reading the hosts file

  std::string hosts_path_;
  std::vector<std::string> extra_;
  uint16_t port_;
  std::unique_ptr<NibProcess> process_;
};

}  // namespace nib::test
