#include "dataplane/kernel/sockmap_relay.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>

#include "sockmap_relay.skel.h"

namespace nib {

struct SockmapRelay::Impl {
  nib_sockmap_relay* skel = nullptr;
  int socks = -1, targets = -1, peers = -1;
  ~Impl() {
    if (skel) nib_sockmap_relay::destroy(skel);
  }
};

namespace {

struct PeerValue {  // struct peer in sockmap_relay.bpf.c
  uint64_t peer_cookie;
  uint64_t bytes;
};

bool cookie_of(int fd, uint64_t* cookie) {
  socklen_t len = sizeof *cookie;
  return ::getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) == 0;
}

// libbpf's own messages would go to stderr: the one line nib logs says it.
int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

SockmapRelay::SockmapRelay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SockmapRelay::~SockmapRelay() = default;

std::unique_ptr<SockmapRelay> SockmapRelay::open(std::string* error) {
  if (const char* deny = std::getenv("NIB_TEST_SOCKMAP_DENY"); deny && std::strcmp(deny, "1") == 0) {
    *error = "loading the BPF program: Operation not permitted (NIB_TEST_SOCKMAP_DENY)";
    return nullptr;
  }
  libbpf_set_print(quiet);
  auto impl = std::make_unique<Impl>();
  impl->skel = nib_sockmap_relay::open_and_load();
  if (!impl->skel) {
    *error = std::string("loading the BPF program: ") + std::strerror(errno);
    return nullptr;
  }
  impl->socks = bpf_map__fd(impl->skel->maps.socks);
  impl->targets = bpf_map__fd(impl->skel->maps.targets);
  impl->peers = bpf_map__fd(impl->skel->maps.peers);
  if (bpf_prog_attach(bpf_program__fd(impl->skel->progs.nib_relay_verdict), impl->socks, BPF_SK_SKB_STREAM_VERDICT,
                      0) != 0) {
    *error = std::string("attaching the stream verdict: ") + std::strerror(errno);
    return nullptr;
  }
  return std::unique_ptr<SockmapRelay>(new SockmapRelay(std::move(impl)));
}

bool SockmapRelay::written_to(int fd, uint64_t* bytes) {
  // bytes_acked (snd_una's progress) plus SIOCOUTQ (write_seq - snd_una):
  // write_seq, from two reads. An ACK between them would move bytes from
  // one to the other, so the pair counts only when bytes_acked did not move
  // across the SIOCOUTQ read (bounded retries; under heavy ACK traffic the
  // caller just asks again later).
  for (int attempt = 0; attempt < 8; ++attempt) {
    tcp_info before{}, after{};
    socklen_t len = sizeof before;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &before, &len) != 0) return false;
    int outq = 0;
    if (::ioctl(fd, SIOCOUTQ, &outq) != 0) return false;
    len = sizeof after;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &after, &len) != 0) return false;
    if (before.tcpi_bytes_acked == after.tcpi_bytes_acked) {
      *bytes = after.tcpi_bytes_acked + static_cast<uint64_t>(outq);
      return true;
    }
  }
  errno = EAGAIN;
  return false;
}

void SockmapRelay::wait_receive(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  (void)::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len);
}

bool SockmapRelay::add(int a, int b, Pair* pair) {
  *pair = Pair{};
  if (!cookie_of(a, &pair->cookie[0]) || !cookie_of(b, &pair->cookie[1])) return false;
  if (!written_to(a, &pair->base[0]) || !written_to(b, &pair->base[1])) return false;
  const int fds[2] = {a, b};
  const uint64_t values[2] = {static_cast<uint64_t>(a), static_cast<uint64_t>(b)};  // the maps' 8-byte values: the fd
  const PeerValue peer_values[2] = {{pair->cookie[1], 0}, {pair->cookie[0], 0}};
  // In this order: targets before socks, because once a socket is in
  // `socks` its verdict may redirect to its peer at any moment, and the
  // peer must be found.
  struct Insert {
    int map;
    int side;
    const void* value;
  };
  const Insert inserts[] = {{impl_->peers, 0, &peer_values[0]},  {impl_->peers, 1, &peer_values[1]},
                            {impl_->targets, 0, &values[0]}, {impl_->targets, 1, &values[1]},
                            {impl_->socks, 0, &values[0]},   {impl_->socks, 1, &values[1]}};
  constexpr int kLast = std::size(inserts) - 1;
  for (int step = 0; step <= kLast; ++step) {
    const Insert& in = inserts[step];
    if (bpf_map_update_elem(in.map, &pair->cookie[in.side], in.value, BPF_NOEXIST) == 0) continue;
    const int err = errno;
    if (step == kLast) {
      // a is in `socks` already: its verdict may have queued bytes on b's
      // psock, which leaving the maps would free. Nothing is undone; the
      // caller resets the connection rather than lose bytes silently.
      pair->broken = true;
    } else {
      // Before the verdict saw any byte of this pair: leaving the maps loses nothing.
      for (int done = step - 1; done >= 0; --done) {
        bpf_map_delete_elem(inserts[done].map, &pair->cookie[inserts[done].side]);
      }
    }
    errno = err;
    return false;
  }
  // Bytes that arrived after the user-space relay's last read and before
  // the verdict was attached sit in the receive queue: the verdict runs on
  // data_ready, that is on the next arrival, which may never come (a client
  // waiting for its answer). Setting SO_RCVLOWAT calls tcp_data_ready() under
  // the socket's lock, so the verdict takes them now, in order.
  for (int fd : fds) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
  }
  return true;
}

void SockmapRelay::forget(const Pair& pair) {
  for (uint64_t c : pair.cookie) bpf_map_delete_elem(impl_->peers, &c);
}

uint64_t SockmapRelay::redirected(const Pair& pair, int side) const {
  PeerValue v{};
  if (bpf_map_lookup_elem(impl_->peers, &pair.cookie[side], &v) != 0) return 0;
  return v.bytes;
}

}  // namespace nib
