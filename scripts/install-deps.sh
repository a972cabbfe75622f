#!/usr/bin/env bash
# Installs every build and test dependency of nib from Debian 12's archive.
# Idempotent: does nothing (and needs no network) when all are present.
#   scripts/install-deps.sh          what building and running nib needs
#   scripts/install-deps.sh --test   also what the tests start (a real Prometheus, Debian's penctl)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev libcpp-httplib-dev prometheus-cpp-dev libyaml-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev libcli11-dev
  libgeoip-dev geoip-database libcap-dev
  libbpf-dev bpftool clang-16 liburing-dev
  curl openssl
)
# libbpf-dev, bpftool, clang-16: the in-kernel relay (relay: sockmap): its BPF
# program is compiled by clang and wrapped by `bpftool gen skeleton`; nib links
# libbpf (libbpf1 at run time). liburing-dev: event_loop: io_uring (liburing2
# at run time).
# Started by tests; installed without recommends (Prometheus would bring a
# whole node exporter set). pen: Debian's real penctl drives nib's control
# port. netbase: /etc/services, for Pen's port names (smtp, http).
# clang-16 + libclang-rt-16-dev: libFuzzer and the sanitizer runtimes
# (scripts/fuzz.sh); llvm-16: llvm-symbolizer, for the fuzzers' stack traces.
# iproute2: `ip netns`, for the tests that build their own networks (transparent mode).
# nginx: a real web server whose access logs nib-logd merges (its service is not started).
# dnsmasq-base: the DNS server of the backends_from tests (/usr/sbin/dnsmasq, no system service).
# keepalived: VRRP for the failover test, which runs one per namespace (the packaged service
# starts only with an /etc/keepalived/keepalived.conf, which the package does not install).
# etcd-server, etcd-client: the shared registry's tests start their own etcd members on free loopback
# ports, with etcdctl; a packaged etcd service, where an init system starts one, is not used.
test_packages=(prometheus pen netbase clang-16 libclang-rt-16-dev llvm-16 iproute2 nginx dnsmasq-base keepalived
  etcd-server etcd-client)

missing_of() {
  for p in "$@"; do
    grep -q "install ok installed" <<<"$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" || echo "$p"
  done
}
mapfile -t missing < <(missing_of "${packages[@]}")
test_missing=()
if [ "${1:-}" = --test ]; then mapfile -t test_missing < <(missing_of "${test_packages[@]}"); fi
if [ ${#missing[@]} -eq 0 ] && [ ${#test_missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]} ${test_missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
apt_install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null; }
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
if [ ${#test_missing[@]} -gt 0 ]; then apt_install --no-install-recommends "${test_missing[@]}"; fi
