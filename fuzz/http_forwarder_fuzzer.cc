// The -H request parser (dataplane/net/http_forwarder), which reads what any
// client sends: any input is forwarded or refused, never a crash or a write
// outside the buffer. Whatever the input, the bytes sent are the input with
// the headers inserted once per request, and cutting the input into
// different pieces (as reads would) changes neither the bytes nor the verdict.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "dataplane/net/http_forwarder.h"

namespace {

constexpr std::string_view kInsert = "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n";

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "http_forwarder: %s\n", what);
  std::abort();
}

struct Outcome {
  std::string sent;
  bool bad = false;
  uint32_t requests = 0;
};

// As the relay drives it: pieces of `piece` bytes into a buffer of
// `capacity`, 256 bytes kept free after each read, ready bytes sent and the
// rest compacted.
Outcome run(const uint8_t* data, size_t size, size_t piece, uint32_t capacity) {
  nib::HttpForwarder fwd;
  std::unique_ptr<char[]> buf(new char[capacity]);
  uint32_t ready = 0, len = 0;
  Outcome out;
  size_t in = 0;
  for (size_t rounds = 0; rounds < 8 * size + 64; ++rounds) {
    const auto step = fwd.advance(buf.get(), &ready, &len, capacity, kInsert);
    if (ready > len || len > capacity) fail("ready or len outside the buffer");
    if (step == nib::HttpForwarder::Step::kBadRequest) {
      if (std::strlen(fwd.error()) == 0) fail("a bad request without a reason");
      out.bad = true;
      break;
    }
    out.sent.append(buf.get(), ready);
    std::memmove(buf.get(), buf.get() + ready, len - ready);
    len -= ready;
    ready = 0;
    if (step == nib::HttpForwarder::Step::kNeedRoom) continue;
    if (in == size) break;
    if (len + 256 >= capacity) fail("an incomplete line filled the buffer");
    const size_t n = std::min({piece, size - in, static_cast<size_t>(capacity - 256 - len)});
    std::memcpy(buf.get() + len, data + in, n);
    len += static_cast<uint32_t>(n);
    in += n;
  }
  out.sent.append(buf.get(), len);  // an incomplete line at the end goes as it is
  out.requests = fwd.requests();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 64;  // the first byte picks how reads cut the rest
  ++data;
  --size;
  const Outcome whole = run(data, size, size + 1, 64 * 1024);
  const Outcome cut = run(data, size, piece, 64 * 1024);
  const Outcome small = run(data, size, piece, 9 * 1024);
  if (whole.bad != cut.bad || whole.requests != cut.requests) fail("the verdict depends on how reads cut the input");
  if (!whole.bad) {
    if (whole.sent != cut.sent) fail("the bytes sent depend on how reads cut the input");
    if (whole.sent.size() != size + whole.requests * kInsert.size()) fail("bytes lost or added");
    if (!small.bad && small.sent != whole.sent) fail("a small buffer changed the bytes sent");
  }
  return 0;
}
