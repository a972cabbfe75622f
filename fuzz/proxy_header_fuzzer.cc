// The PROXY header reader (dataplane/net/proxy_protocol), which reads bytes
// from the network before anything else: any input is a header, a valid
// beginning or an error, never a crash or a read past the input. A header
// it accepts is no longer than the input and the read limit, every shorter
// prefix of it is incomplete, and the client it names, written again by
// nib in either version, reads back the same.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "dataplane/net/proxy_protocol.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "proxy_header: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nib;
  // An exact-size copy, so that ASan sees a read past the input.
  std::unique_ptr<char[]> bytes(new char[size]);
  if (size != 0) std::memcpy(bytes.get(), data, size);
  const ProxyHeader h = parse_proxy_header(bytes.get(), size);
  if (h.result == ProxyHeader::Result::kInvalid && std::strlen(h.error) == 0) fail("an error without a reason");
  if (h.result != ProxyHeader::Result::kDone) return 0;
  if (h.length == 0 || h.length > size || h.length > kProxyHeaderReadMax) fail("a length outside the input");
  if (parse_proxy_header(bytes.get(), h.length - 1).result != ProxyHeader::Result::kIncomplete) {
    fail("a prefix of an accepted header is not incomplete");
  }
  if (h.local) return 0;
  for (ProxyProtocol v : {ProxyProtocol::kV1, ProxyProtocol::kV2}) {
    char out[kProxyHeaderMax];
    const size_t n = write_proxy_header(v, h.client, h.destination, out);
    const ProxyHeader again = parse_proxy_header(out, n);
    if (again.result != ProxyHeader::Result::kDone || again.length != n || again.local) {
      fail("what nib writes does not read back");
    }
    // The same addresses; the family may change (a v4-mapped pair is written as TCP4).
    auto same = [](const SocketAddress& a, const SocketAddress& b) {
      return a.ip_key() == b.ip_key() && a.port() == b.port();
    };
    if (!same(again.client, h.client) || !same(again.destination, h.destination)) {
      fail("the round trip changed an address");
    }
  }
  return 0;
}
