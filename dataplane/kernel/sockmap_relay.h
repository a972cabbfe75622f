#pragma once
// The in-kernel TCP relay (issue 18, `relay: sockmap`): a BPF sk_skb
// stream-verdict program (sockmap_relay.bpf.c) that sends what one socket of
// a pair receives to the other's egress, so established traffic never wakes
// user space. This is the dataplane's only door to libbpf: the header is
// std + POSIX, the skeleton and libbpf stay in sockmap_relay.cc.
//
// One per process, shared by the workers: every method is a map syscall and
// may run on any thread. A pair is added once (after the user-space relay
// has passed the backend's first byte and both relay buffers are empty) and
// stays in the kernel until its sockets close: leaving a sockmap frees what
// the psock still queues, so there is no safe way back (TcpConnection says
// how half-close and close stay exact without one).
#include <cstdint>
#include <memory>
#include <string>

namespace nib {

class SockmapRelay {
 public:
  // What one paired socket's peer has written (the baseline at pairing) and
  // its identity in the maps.
  struct Pair {
    uint64_t cookie[2] = {0, 0};  // SO_COOKIE of a (0) and b (1)
    uint64_t base[2] = {0, 0};    // written_to() of a and b when paired
    bool broken = false;          // add() failed half-way: close the connection with a reset
  };

  // Loads and attaches the program; null with `error` set (EPERM, no BPF,
  // maps full...) when this kernel or these privileges do not allow it.
  // NIB_TEST_SOCKMAP_DENY=1 in the environment makes it fail as if
  // not permitted (a test hook for the fallback).
  static std::unique_ptr<SockmapRelay> open(std::string* error);
  ~SockmapRelay();
  SockmapRelay(const SockmapRelay&) = delete;
  SockmapRelay& operator=(const SockmapRelay&) = delete;

  // Any thread. Pairs two connected TCP sockets whose user-space relay has
  // nothing buffered: from now on the kernel relays both ways. False (with
  // errno) when the maps refused; then nothing of the pair is left in them
  // and the user-space relay goes on as before, unless pair->broken (the
  // second socket was refused after the first had its verdict: the
  // connection must be reset, see add()).
  bool add(int a, int b, Pair* pair);
  // Any thread. Forgets the pair's counters; after both sockets are closed
  // (closing takes a socket out of the sockmaps).
  void forget(const Pair& pair);
  // Any thread. Bytes the kernel redirected from socket `side` (0: a) to
  // its peer since add().
  uint64_t redirected(const Pair& pair, int side) const;
  // Any thread. Bytes ever written into `fd`'s send stream (acked plus still
  // queued; a constant offset for the SYN), read consistently: compared with
  // the pair's base and redirected(), it says whether the psock's queue for
  // that socket is empty. False when the socket failed.
  static bool written_to(int fd, uint64_t* bytes);
  // Any thread. Returns once `fd`'s receive processing running now (a
  // softirq holding its lock, the verdict included) is over: a getsockopt
  // takes the socket's lock.
  static void wait_receive(int fd);

 private:
  struct Impl;
  explicit SockmapRelay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace nib
