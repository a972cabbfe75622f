#include "dataplane/net/socket_ops.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace nib {
namespace {
Status errno_status(const std::string& what) {
  return Status::unavailable(what + ": " + std::strerror(errno));
}
}  // namespace

Result<UniqueFd> make_tcp_listener(const SocketAddress& address, int backlog, bool reuse_port,
                                   bool defer_accept, bool nodelay) {
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_status("socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return errno_status("setsockopt SO_REUSEPORT");
  }
  if (address.family() == AF_INET6) {
    // [::]:port serves IPv6 only; an IPv4 service is declared separately.
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), address.sockaddr_ptr(), address.length()) != 0) {
    return errno_status("bind " + address.to_string());
  }
  // Accepted sockets inherit TCP_NODELAY: set once here, not per connection.
  if (nodelay) set_nodelay(fd.get());
  // The kernel accepts a client that stays silent after the timeout (it
  // resends its SYN-ACK, the client's ACK completes the connection): 1 s, the
  // shortest, is what a protocol where the server speaks first waits.
  int defer_seconds = 1;
  if (defer_accept &&
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof defer_seconds) != 0) {
    return errno_status("setsockopt TCP_DEFER_ACCEPT");
  }
  if (::listen(fd.get(), backlog) != 0) return errno_status("listen " + address.to_string());
  return fd;
}

Result<UniqueFd> make_unix_listener(const std::string& path, int backlog, int mode) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof a.sun_path || path.find('\0') != std::string::npos) {
    return Status::invalid("a Unix socket path of 1-" + std::to_string(sizeof a.sun_path - 1) + " bytes, got '" +
                           path + "'");
  }
  std::memcpy(a.sun_path, path.data(), path.size());
  const auto* sa = reinterpret_cast<const sockaddr*>(&a);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status(StatusCode::kAlreadyExists, path + " exists and is not a socket");
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), sa, sizeof a) == 0) {
      return Status(StatusCode::kAlreadyExists, path + " is in use by another process");
    }
    ::unlink(path.c_str());  // stale: its listener is gone
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_status("socket");
  if (::bind(fd.get(), sa, sizeof a) != 0) return errno_status("bind " + path);
  // Set before listen(): until then nobody can connect at all.
  if ((mode != kUmask && ::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) || ::listen(fd.get(), backlog) != 0) {
    Status failed = errno_status("listen " + path);
    ::unlink(path.c_str());
    return failed;
  }
  return fd;
}

Status check_port_free(const SocketAddress& address, bool tcp) {
  UniqueFd fd(::socket(address.family(), (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0));
  if (!fd) return errno_status("socket");
  int one = 1;
  if (tcp) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (address.family() == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd.get(), address.sockaddr_ptr(), address.length()) == 0) return {};
  if (errno == EADDRINUSE) {
    return Status(StatusCode::kAlreadyExists, "port " + std::to_string(address.port()) + " (" +
                                                  std::string(tcp ? "tcp" : "udp") + " " + address.to_string() +
                                                  ") is already in use by another process");
  }
  return errno_status("bind " + address.to_string());
}

Result<UniqueFd> make_tcp_socket(int family, bool nodelay) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return errno_status("socket");
  if (nodelay) set_nodelay(fd.get());
  return fd;
}

Result<SocketAddress> local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return errno_status("getsockname");
  return SocketAddress(reinterpret_cast<sockaddr*>(&ss), len);
}

uint16_t local_port(int fd) {
  auto local = local_address(fd);
  return local.ok() ? local->port() : 0;
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void set_keepalive(int fd) {
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

bool bind_source(int fd, const SocketAddress& source) {
  int one = 1;
  // Not fatal where the kernel lacks it (before 4.2): bind() then picks a
  // port, as Pen's source does.
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  return ::bind(fd, source.sockaddr_ptr(), source.length()) == 0;
}

bool bind_transparent(int fd, const SocketAddress& client, int family) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const IpKey key = client.ip_key();  // 16 bytes, IPv4 v4-mapped
  if (family == AF_INET && key.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    std::memcpy(&in->sin_addr, key.bytes.data() + 12, 4);
    len = sizeof(sockaddr_in);
  } else if (family == AF_INET6 && client.family() == AF_INET6 && !key.is_v4()) {
    std::memcpy(&ss, client.sockaddr_ptr(), client.length());
    reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = 0;
    len = sizeof(sockaddr_in6);
  } else {
    errno = EAFNOSUPPORT;
    return false;
  }
  int one = 1;
  const bool v4 = family == AF_INET;
  if (::setsockopt(fd, v4 ? IPPROTO_IP : IPPROTO_IPV6, v4 ? IP_TRANSPARENT : IPV6_TRANSPARENT, &one, sizeof one) != 0) {
    return false;
  }
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  return ::bind(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0;
}

Status check_transparent() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_status("socket");
  int one = 1;
  if (::setsockopt(fd.get(), IPPROTO_IP, IP_TRANSPARENT, &one, sizeof one) == 0) return {};
  if (errno == EPERM) {
    return Status::invalid("transparent needs the CAP_NET_ADMIN capability (run nib as root, or grant it)");
  }
  return errno_status("transparent: setsockopt IP_TRANSPARENT");
}

Status check_source(const SocketAddress& source) {
  UniqueFd fd(::socket(source.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno_status("socket");
  if (bind_source(fd.get(), source)) return {};
  if (errno == EADDRNOTAVAIL) {
    return Status::invalid("source " + source.ip_string() + " is not an address of this host");
  }
  return errno_status("bind to source " + source.ip_string());
}

uint64_t raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
    ::getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

}  // namespace nib
