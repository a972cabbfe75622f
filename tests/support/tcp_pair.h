#pragma once
// A connected loopback TCP pair, both ends non-blocking, for tests that drive
// two sessions over a real socket (TLS client and server) in one thread.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dataplane/base/unique_fd.h"

namespace nib::test {

struct TcpPair {
  UniqueFd client;
  UniqueFd server;
  TcpPair() {
    UniqueFd listener(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener.get(), 1), 0);
    EXPECT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
    client = UniqueFd(::socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    server = UniqueFd(::accept(listener.get(), nullptr, nullptr));
    EXPECT_TRUE(server);
    for (int fd : {client.get(), server.get()}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
};

}  // namespace nib::test
