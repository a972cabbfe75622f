// SPDX-License-Identifier: GPL-2.0
// nib's in-kernel relay (issue 18): an sk_skb stream-verdict program that
// sends every skb a relayed socket receives to its peer's egress. User space
// (dataplane/kernel/sockmap_relay.cc) fills `socks` (the sockets, keyed by
// socket cookie) and `peers` (cookie -> peer's cookie and a byte counter).
// The counter is what user space reads for activity (idle timeouts), the
// byte counts (/metrics) and the drain check before a half-close.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct peer {
  __u64 peer_cookie;
  __u64 bytes;  // redirected from this socket to its peer, added before the redirect
};

struct {
  __uint(type, BPF_MAP_TYPE_SOCKHASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, __u64);
} socks SEC(".maps");

// The same sockets again, in a map without programs: the redirect's target.
// Every socket is in `targets` before either of its pair joins `socks` (and
// with it the verdict), so a redirect never misses its peer.
struct {
  __uint(type, BPF_MAP_TYPE_SOCKHASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, __u64);
} targets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct peer);
} peers SEC(".maps");

SEC("sk_skb/stream_verdict")
int nib_relay_verdict(struct __sk_buff *skb) {
  // A FIN comes as an empty skb (tcp_read_skb hands it over like data). The
  // FIN itself is already the socket's state (tcp_fin: RCV_SHUTDOWN, and
  // the RDHUP user space acts on); redirected, the psock backlog would try to
  // send 0 bytes, take that for a broken pipe and set EPIPE on the peer.
  if (skb->len == 0) return SK_DROP;
  __u64 cookie = bpf_get_socket_cookie(skb);
  struct peer *p = bpf_map_lookup_elem(&peers, &cookie);
  // Never unpaired while in `socks` (user space pairs first and unpairs
  // after close); kept to please the verifier.
  if (!p) return SK_PASS;
  __sync_fetch_and_add(&p->bytes, skb->len);
  return bpf_sk_redirect_hash(skb, &targets, &p->peer_cookie, 0);  // flags 0: the peer's egress
}

char LICENSE[] SEC("license") = "GPL";
