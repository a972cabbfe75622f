#pragma once
// Socket factories and options (after seastar's posix file_desc factories):
// descriptors come back owned, errors as values.
#include <string>

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

// A non-blocking Unix stream listener at `path` (Pen's -C /path/to/socket,
// and a service's listen path). A socket file nobody answers on (left by a
// process that died) is replaced; one a live process listens on is
// kAlreadyExists; any other file there is left alone and refused.
// `mode`: the file's permissions, set before listen() (nobody can connect
// until then); the default 0600 is the control port's: whoever can connect
// controls the balancer, so only its owner may. kUmask leaves what bind()
// made (0777 less the umask), as Pen does for a service's socket, whose
// clients may be other users. The caller unlinks `path` when done.
inline constexpr int kUmask = -1;
Result<UniqueFd> make_unix_listener(const std::string& path, int backlog, int mode = 0600);

// A non-blocking TCP socket for `family`, with TCP_NODELAY when `nodelay`.
Result<UniqueFd> make_tcp_socket(int family, bool nodelay = true);

// Whether a socket of another process holds `address` (TCP: one listening on
// it; UDP: one bound to it). A probe is bound without SO_REUSEPORT, so the
// kernel refuses any overlap, an SO_REUSEPORT group included, which nib's own
// listeners would otherwise join without a word (issue 17, finding 10). The
// TCP probe sets SO_REUSEADDR, so an earlier run's connections in TIME_WAIT
// do not count. kAlreadyExists when the port is taken; other bind errors as
// kUnavailable.
Status check_port_free(const SocketAddress& address, bool tcp);

// The local address a socket is bound to.
Result<SocketAddress> local_address(int fd);
// Its port; 0 when it has none or the call fails.
uint16_t local_port(int fd);

void set_nodelay(int fd);
// SO_KEEPALIVE, with the kernel's probe timings (net.ipv4.tcp_keepalive_*).
void set_keepalive(int fd);

// Binds an unconnected socket to `source` (port 0) before connect(), Pen's
// `source IP`. IP_BIND_ADDRESS_NO_PORT leaves the port to connect(), so only
// the whole 4-tuple must be unique: a source address does not run out of
// ports after ~28k connections across all backends. False with errno set;
// no allocation (worker hot path).
bool bind_source(int fd, const SocketAddress& source);

// Pen's transparent mode: makes `fd`, a socket of `family` not yet
// connected, connect from `client`'s IP (port left to connect()), an address
// not of this host (IP_TRANSPARENT; needs CAP_NET_ADMIN). An IPv4 client seen
// as ::ffff:a.b.c.d binds as a.b.c.d. False with errno set: EAFNOSUPPORT for
// a client of the other family. No allocation (worker hot path).
bool bind_transparent(int fd, const SocketAddress& client, int family);

// Whether nib may make transparent sockets: kInvalidArgument saying what is
// missing (CAP_NET_ADMIN) when it may not. At start, so a missing privilege
// is an error there rather than every connection failing.
Status check_transparent();

// Whether connections can leave from `source`: kInvalidArgument naming it
// when it is not an address of this host. At start, so a typo is an error
// there rather than every connection failing.
Status check_source(const SocketAddress& source);

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
uint64_t raise_fd_limit();

}  // namespace nib
