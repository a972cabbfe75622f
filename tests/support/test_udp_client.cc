#include "tests/support/test_udp_client.h"

#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

namespace nib::test {

TestUdpClient::TestUdpClient(const SocketAddress& to, const std::string& source_ip) {
  auto from = SocketAddress::from_ip(source_ip, 0);
  fd_.reset(::socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!from.ok() || ::bind(fd_.get(), from->sockaddr_ptr(), from->length()) != 0 ||
      ::connect(fd_.get(), to.sockaddr_ptr(), to.length()) != 0) {
    ADD_FAILURE() << "TestUdpClient " << source_ip << " -> " << to.to_string() << ": " << std::strerror(errno);
    fd_.reset();
  }
}

SocketAddress TestUdpClient::local() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

bool TestUdpClient::send(std::string_view data) {
  return ::send(fd_.get(), data.data(), data.size(), 0) == static_cast<ssize_t>(data.size());
}

std::optional<std::string> TestUdpClient::receive(Duration timeout) {
  pollfd p{fd_.get(), POLLIN, 0};
  int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
  if (::poll(&p, 1, ms) != 1) return std::nullopt;
  std::string buf(65536, '\0');
  ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<size_t>(n));
  return buf;
}

std::optional<std::string> TestUdpClient::ask(std::string_view data, Duration timeout) {
  if (!send(data)) return std::nullopt;
  return receive(timeout);
}

std::optional<std::string> TestUdpClient::ask_until_answered(const std::string& payload, int tries,
                                                             Duration interval) {
  for (int i = 0; i < tries; ++i) {
    if (!send(payload)) return std::nullopt;
    MonoTime until = MonoClock::now() + interval;
    while (MonoClock::now() < until) {
      auto reply = receive(until - MonoClock::now());
      if (reply && reply->ends_with(" " + payload)) return reply;
    }
  }
  return std::nullopt;
}

}  // namespace nib::test
