#pragma once
// Socket factories and options (after seastar's posix file_desc factories):
// descriptors come back owned, errors as values.
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/net/socket_address.h"

namespace nib {

// A non-blocking TCP listener bound to `address`, with TCP_NODELAY when
// `nodelay` (the sockets it accepts inherit it). reuse_port lets every worker
// bind its own listener to the same address. defer_accept: wake for a client
// only once its first bytes are in (TCP_DEFER_ACCEPT, 1 s; after that it is
// accepted anyway).
Result<UniqueFd> make_tcp_listener(const SocketAddress& address, int backlog, bool reuse_port,
                                   bool defer_accept = false, bool nodelay = true);

// A non-blocking TCP socket for `family`, with TCP_NODELAY when `nodelay`.
Result<UniqueFd> make_tcp_socket(int family, bool nodelay = true);

// kUnavailable when `address` (port != 0) is taken by another process. The
// listeners share a port through SO_REUSEPORT, which would let a second nib
// (same user) join the first one's port and split its clients unseen; a
// probe bound without SO_REUSEPORT fails there first. `type`: SOCK_STREAM or
// SOCK_DGRAM.
Status check_port_free(const SocketAddress& address, int type);

// The local address a socket is bound to.
Result<SocketAddress> local_address(int fd);

void set_nodelay(int fd);

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
uint64_t raise_fd_limit();

}  // namespace nib
