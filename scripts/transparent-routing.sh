#!/usr/bin/env bash
# The routing nib's host needs for transparent mode (`transparent: true`,
# Pen's -O transparent): nib connects to the backends from each client's own
# address, so the backends' replies are addressed to the client, not to nib.
# Two things bring them back into nib:
#   1. on each backend, the route to the clients goes through nib (usually
#      its default gateway is nib's address on their network), and
#   2. on nib's host (this script), packets arriving from the backends'
#      interfaces are delivered locally whatever their destination, so the
#      kernel hands them to nib's transparent sockets.
#
#   scripts/transparent-routing.sh up IFACE...   IFACE: interfaces facing the backends
#   scripts/transparent-routing.sh down IFACE...
# Env: TABLE=213 (the routing table it uses), IPV6=1 also for IPv6.
#
# Backends reached through an interface that also carries clients need the
# fwmark form instead (docs/transparent-proxy.md). Idempotent; run as root.
set -euo pipefail
TABLE=${TABLE:-213}
IPV6=${IPV6:-0}
usage() { echo "usage: $0 up|down IFACE..." >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1; shift
families=(-4); [ "$IPV6" = 1 ] && families+=(-6)
case "$action" in
  up)
    for f in "${families[@]}"; do
      ip "$f" route replace local default dev lo table "$TABLE"
      for dev in "$@"; do
        ip "$f" rule del iif "$dev" lookup "$TABLE" 2>/dev/null || true
        ip "$f" rule add iif "$dev" lookup "$TABLE"
      done
    done ;;
  down)
    for f in "${families[@]}"; do
      for dev in "$@"; do ip "$f" rule del iif "$dev" lookup "$TABLE" 2>/dev/null || true; done
      ip "$f" route del local default dev lo table "$TABLE" 2>/dev/null || true
    done ;;
  *) usage ;;
esac
