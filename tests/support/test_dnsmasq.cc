#include "tests/support/test_dnsmasq.h"

#include <signal.h>
#include <unistd.h>

#include "tests/support/temp_file.h"
#include "tests/support/test_client.h"

namespace nib::test {

bool TestDnsmasq::installed() { return ::access(kDnsmasqBinary, X_OK) == 0; }

TestDnsmasq::TestDnsmasq(const std::string& dir, std::vector<std::string> extra_options)
    : hosts_path_(dir + "/dns-hosts"), extra_(std::move(extra_options)), port_(free_port()) {}

TestDnsmasq::~TestDnsmasq() = default;

size_t TestDnsmasq::reads() const {
  const std::string text = output();
  const std::string needle = "read " + hosts_path_;
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

Status TestDnsmasq::start(const std::string& hosts) {
  if (Status st = write_file(hosts_path_, hosts); !st.ok()) return st;
  std::vector<std::string> args = {"--no-daemon", "--port=" + std::to_string(port_), "--listen-address=127.0.0.1",
                                   "--bind-interfaces", "--no-resolv", "--no-hosts", "--addn-hosts=" + hosts_path_,
                                   // No pid file, stay root (the hosts file is in the test's private
                                   // directory), log to stderr, no cache, nib.test is ours alone.
                                   "--pid-file=", "--user=root", "--log-facility=-", "--cache-size=0",
                                   "--local-ttl=0", "--local=/nib.test/"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  auto p = NibProcess::start_program(kDnsmasqBinary, args);
  if (!p.ok()) return p.status();
  process_ = std::move(*p);
  if (!wait_until([&] { return reads() >= 1 || !process_->running(); }, 10s) || !process_->running()) {
    return Status::unavailable("dnsmasq did not start: " + output());
  }
  return {};
}

Status TestDnsmasq::publish(const std::string& hosts) {
  if (!process_) return Status::unavailable("dnsmasq is not running");
  if (Status st = write_file(hosts_path_, hosts); !st.ok()) return st;
  const size_t before = reads();
  if (Status st = process_->signal(SIGHUP); !st.ok()) return st;
  if (!wait_until([&] { return reads() > before; }, 10s)) {
    return Status::unavailable("dnsmasq did not read " + hosts_path_ + " again: " + output());
  }
  return {};
}

void TestDnsmasq::stop() { process_.reset(); }

}  // namespace nib::test
