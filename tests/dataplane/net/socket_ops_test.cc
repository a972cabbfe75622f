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

// defer_accept: a client that has sent is accepted at once, its bytes readable;
// one that stays silent is not (the kernel holds it for the defer period).
TEST(SocketOpsTest, DeferAcceptWakesForClientsThatSent) {
  auto listener = make_tcp_listener(*SocketAddress::parse("127.0.0.1:0"), 16, false, /*defer_accept=*/true);
  ASSERT_TRUE(listener.ok()) << listener.status().message();
  int seconds = 0;
  socklen_t len = sizeof seconds;
  ASSERT_EQ(::getsockopt(listener->get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, &len), 0);
  EXPECT_GT(seconds, 0);
  auto bound = local_address(listener->get());
  ASSERT_TRUE(bound.ok());
  UniqueFd silent(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_EQ(::connect(silent.get(), bound->sockaddr_ptr(), bound->length()), 0);
  UniqueFd talking(::socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_EQ(::connect(talking.get(), bound->sockaddr_ptr(), bound->length()), 0);
  ASSERT_EQ(::send(talking.get(), "hi", 2, 0), 2);
  pollfd p{listener->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  UniqueFd accepted(::accept4(listener->get(), nullptr, nullptr, SOCK_NONBLOCK));
  ASSERT_TRUE(accepted.valid());
  char buf[4];
  EXPECT_EQ(::recv(accepted.get(), buf, sizeof buf, 0), 2);  // the talking one, bytes there
  UniqueFd next(::accept4(listener->get(), nullptr, nullptr, SOCK_NONBLOCK));
  EXPECT_FALSE(next.valid());  // the silent one is still held
}

TEST(SocketOpsTest, NoDeferAcceptByDefault) {
  auto listener = make_tcp_listener(*SocketAddress::parse("127.0.0.1:0"), 16, false);
  ASSERT_TRUE(listener.ok()) << listener.status().message();
  int seconds = -1;
  socklen_t len = sizeof seconds;
  ASSERT_EQ(::getsockopt(listener->get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds, &len), 0);
  EXPECT_EQ(seconds, 0);
}

// Another process's SO_REUSEPORT listener would let nib's own listeners join
// its group without a word: the probe (no SO_REUSEPORT) finds it.
TEST(SocketOpsTest, CheckPortFreeFindsAnotherListenerEvenWithReusePort) {
  auto other = make_tcp_listener(*SocketAddress::parse("127.0.0.1:0"), 16, /*reuse_port=*/true);
  ASSERT_TRUE(other.ok()) << other.status().message();
  SocketAddress taken = *local_address(other->get());
  Status st = check_port_free(taken, /*tcp=*/true);
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(st.message(), "port " + std::to_string(taken.port()) + " (tcp " + taken.to_string() +
                              ") is already in use by another process");
  EXPECT_TRUE(check_port_free(taken, /*tcp=*/false).ok());  // UDP's ports are another space
  // The wildcard address overlaps every local one.
  EXPECT_EQ(check_port_free(SocketAddress::any(taken.port()), true).code(), StatusCode::kAlreadyExists);

  UniqueFd udp(::socket(AF_INET, SOCK_DGRAM, 0));
  int one = 1;
  ::setsockopt(udp.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(udp.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  auto any = SocketAddress::parse("127.0.0.1:0");
  ASSERT_EQ(::bind(udp.get(), any->sockaddr_ptr(), any->length()), 0);
  SocketAddress udp_taken = *local_address(udp.get());
  EXPECT_EQ(check_port_free(udp_taken, false).code(), StatusCode::kAlreadyExists);

  other->reset();
  udp.reset();
  EXPECT_TRUE(check_port_free(taken, true).ok());
  EXPECT_TRUE(check_port_free(udp_taken, false).ok());
}

}  // namespace
}  // namespace nib

namespace nib {
namespace {

int nodelay_of(int fd) {
  int on = -1;
  socklen_t len = sizeof on;
  EXPECT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
  return on;
}

// tcp_nodelay off (Pen's default): neither the accepted client sockets nor the
// backend sockets get TCP_NODELAY.
TEST(SocketOpsTest, NodelayCanBeLeftOff) {
  auto listener = make_tcp_listener(*SocketAddress::parse("127.0.0.1:0"), 16, false, false, /*nodelay=*/false);
  ASSERT_TRUE(listener.ok()) << listener.status().message();
  auto bound = local_address(listener->get());
  ASSERT_TRUE(bound.ok());
  auto client = make_tcp_socket(AF_INET, /*nodelay=*/false);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(nodelay_of(client->get()), 0);
  ::connect(client->get(), bound->sockaddr_ptr(), bound->length());  // non-blocking: in progress
  pollfd p{listener->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  UniqueFd accepted(::accept(listener->get(), nullptr, nullptr));
  ASSERT_TRUE(accepted.valid());
  EXPECT_EQ(nodelay_of(accepted.get()), 0);
  EXPECT_NE(nodelay_of(make_tcp_socket(AF_INET)->get()), 0) << "on by default";
}

// Listeners share their port through SO_REUSEPORT; another process holding it
// (a second nib, same user) must be found before nib joins it.
TEST(SocketOpsTest, CheckPortFreeFindsAReuseportHolder) {
  auto held = make_tcp_listener(*SocketAddress::parse("127.0.0.1:0"), 16, /*reuse_port=*/true);
  ASSERT_TRUE(held.ok());
  auto bound = local_address(held->get());
  ASSERT_TRUE(bound.ok());
  Status st = check_port_free(*bound, /*tcp=*/true);
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(st.message().find("is already in use by another process"), std::string::npos) << st.message();
  held->reset();
  EXPECT_TRUE(check_port_free(*bound, true).ok());
  UniqueFd udp(::socket(AF_INET, SOCK_DGRAM, 0));
  int one = 1;
  ::setsockopt(udp.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  ASSERT_EQ(::bind(udp.get(), bound->sockaddr_ptr(), bound->length()), 0);
  EXPECT_FALSE(check_port_free(*bound, false).ok());
  EXPECT_TRUE(check_port_free(*bound, true).ok()) << "tcp and udp ports are apart";
}

}  // namespace
}  // namespace nib
