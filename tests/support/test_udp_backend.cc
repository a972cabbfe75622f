#include "tests/support/test_udp_backend.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace nib::test {

TestUdpBackend::TestUdpBackend(std::string name, Mode mode, std::string ip, uint16_t port)
    : name_(std::move(name)), ip_(std::move(ip)), mode_(mode) {
  port_ = port;
  if (Status st = start(); !st.ok()) throw std::runtime_error("TestUdpBackend " + name_ + ": " + st.message());
}

TestUdpBackend::~TestUdpBackend() { stop(); }

SocketAddress TestUdpBackend::address() const { return *SocketAddress::from_ip(ip_, port_); }

Status TestUdpBackend::start() {
  if (thread_.joinable()) return {};
  auto addr = SocketAddress::from_ip(ip_, port_);
  if (!addr.ok()) return addr.status();
  fd_.reset(::socket(addr->family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd_) return Status::unavailable(std::string("socket: ") + std::strerror(errno));
  int size = 1 << 20;  // bursts of many clients' datagrams must not drop here
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (::bind(fd_.get(), addr->sockaddr_ptr(), addr->length()) != 0) {
    return Status::unavailable(std::string("bind: ") + std::strerror(errno));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = SocketAddress(reinterpret_cast<sockaddr*>(&ss), len).port();
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  thread_ = std::thread([this] { run(); });
  return {};
}

void TestUdpBackend::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
  thread_.join();
  fd_.reset();
  wake_.reset();
}

void TestUdpBackend::run() {
  std::vector<char> buf(65536);
  for (;;) {
    pollfd p[2] = {{fd_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) return;
    if (p[1].revents) return;
    for (int i = 0; i < 256; ++i) {
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(fd_.get(), buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;
      received_.fetch_add(1);
      const std::string_view payload(buf.data(), static_cast<size_t>(n));
      std::string reply;
      switch (mode_.load()) {
        case Mode::kSilent:
          continue;
        case Mode::kReply:
          reply = name_ + " " + std::string(payload);
          break;
        case Mode::kWho:
          reply = name_ + " " + SocketAddress(reinterpret_cast<sockaddr*>(&from), len).to_string() + " " +
                  std::string(payload);
          break;
        case Mode::kEcho:
          reply = payload;
          break;
      }
      ::sendto(fd_.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
}

}  // namespace nib::test
