#pragma once
// A UDP client for tests, bound to a source IP (distinct clients are distinct
// sources in 127.0.0.0/8) and connected to the balancer: the kernel delivers
// only datagrams whose source is exactly the address it sent to.
#include <optional>
#include <string>
#include <string_view>

#include "dataplane/base/clock.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/net/socket_address.h"

namespace nib::test {

class TestUdpClient {
 public:
  // A failure to bind or connect is a test failure (ADD_FAILURE) and leaves
  // a client whose sends fail.
  TestUdpClient(const SocketAddress& to, const std::string& source_ip);

  int fd() const { return fd_.get(); }
  SocketAddress local() const;
  bool send(std::string_view data);
  // The next datagram ("" is an empty one); nullopt after `timeout` or on an error.
  std::optional<std::string> receive(Duration timeout = std::chrono::seconds(2));
  std::optional<std::string> ask(std::string_view data, Duration timeout = std::chrono::seconds(2));
  // Resends until an answer to *this* datagram (a reply ending in " " +
  // payload) arrives: the datagram that discovers a dead server is lost, as
  // in UDP.
  std::optional<std::string> ask_until_answered(const std::string& payload, int tries = 25,
                                                Duration interval = std::chrono::milliseconds(200));

 private:
  UniqueFd fd_;
};

}  // namespace nib::test
