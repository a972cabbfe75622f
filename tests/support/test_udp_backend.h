#pragma once
// A real UDP server on loopback for tests: one thread polling one socket.
// kReply answers every datagram with "<name> <payload>"; kSilent reads and
// says nothing (a hung server behind an open port); kWho answers
// "<name> <sender> <payload>" (the sender is the balancer's upstream socket:
// one per session); kEcho answers with the datagram unchanged. stop() closes
// the socket, so datagrams to the port draw an ICMP port unreachable; start()
// binds the same port again.
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/net/socket_address.h"

namespace nib::test {

class TestUdpBackend {
 public:
  enum class Mode { kReply, kSilent, kWho, kEcho };

  // Binds at once; throws std::runtime_error when it cannot.
  // Port 0: one the kernel picks.
  explicit TestUdpBackend(std::string name, Mode mode = Mode::kReply, std::string ip = "127.0.0.1", uint16_t port = 0);
  ~TestUdpBackend();  // stops and joins
  TestUdpBackend(const TestUdpBackend&) = delete;
  TestUdpBackend& operator=(const TestUdpBackend&) = delete;

  const std::string& name() const { return name_; }
  uint16_t port() const { return port_; }
  SocketAddress address() const;
  uint64_t received() const { return received_.load(); }  // datagrams, since construction

  // Any thread (not concurrently with each other).
  Status start();  // no-op when running
  void stop();
  void set_mode(Mode mode) { mode_.store(mode); }

 private:
  void run();

  const std::string name_;
  const std::string ip_;
  std::atomic<Mode> mode_;
  uint16_t port_ = 0;
  UniqueFd fd_, wake_;
  std::thread thread_;
  std::atomic<uint64_t> received_{0};
};

}  // namespace nib::test
