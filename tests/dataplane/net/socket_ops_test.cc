#include "dataplane/net/socket_ops.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

namespace nib {
namespace {

// The relay relies on accepted client sockets inheriting TCP_NODELAY from the
// listener instead of setting it per connection.
TEST(SocketOpsTest, AcceptedSocketsInheritNodelayFromTheListener) {
  auto listener = make_tcp_listener(*SocketAddress::parse("127.0.0.1:0"), 16, false);
  ASSERT_TRUE(listener.ok()) << listener.status().message();
  auto bound = local_address(listener->get());
  ASSERT_TRUE(bound.ok());
  UniqueFd client(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_EQ(::connect(client.get(), bound->sockaddr_ptr(), bound->length()), 0);
  pollfd p{listener->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  UniqueFd accepted(::accept(listener->get(), nullptr, nullptr));
  ASSERT_TRUE(accepted.valid());
  int on = 0;
  socklen_t len = sizeof on;
  ASSERT_EQ(::getsockopt(accepted.get(), IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
  EXPECT_NE(on, 0);
}

}  // namespace
}  // namespace nib
