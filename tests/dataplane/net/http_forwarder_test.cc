#include "dataplane/net/http_forwarder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nib {
namespace {

constexpr std::string_view kXff = "X-Forwarded-For: 10.0.0.7\r\n";

// Drives the forwarder as the relay does: input arrives in pieces of
// `piece` bytes into a buffer of `capacity`; ready bytes are "sent" (appended
// to the output) and the buffer compacted. Returns the output, or
// "400: why" at a bad request.
std::string forward(const std::string& input, size_t piece = 1 << 20, uint32_t capacity = 64 * 1024,
                    HttpForwarder* fwd_out = nullptr) {
  HttpForwarder local;
  HttpForwarder& fwd = fwd_out != nullptr ? *fwd_out : local;
  std::vector<char> buf(capacity);
  uint32_t ready = 0, len = 0;
  std::string out;
  size_t in = 0;
  for (int rounds = 0; rounds < 1000000; ++rounds) {
    HttpForwarder::Step step = fwd.advance(buf.data(), &ready, &len, capacity, kXff);
    if (step == HttpForwarder::Step::kBadRequest) return std::string("400: ") + fwd.error();
    out.append(buf.data(), ready);  // sent
    std::copy(buf.begin() + ready, buf.begin() + len, buf.begin());
    len -= ready;
    ready = 0;
    if (step == HttpForwarder::Step::kNeedRoom) continue;
    if (in == input.size()) break;
    const size_t n = std::min({piece, input.size() - in, static_cast<size_t>(capacity - 256 - len)});
    std::copy(input.begin() + in, input.begin() + in + n, buf.begin() + len);
    len += n;
    in += n;
  }
  return out + std::string(buf.data(), len);  // what waits at the end: an incomplete line
}

TEST(HttpForwarderTest, TheHeadersGoLastInEveryRequestsHeaderBlock) {
  EXPECT_EQ(forward("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
            "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n");
  // A client's own X-Forwarded-For stays, before nib's: the last value is nib's.
  EXPECT_EQ(forward("GET / HTTP/1.0\nX-Forwarded-For: 6.6.6.6\n\n"),
            "GET / HTTP/1.0\nX-Forwarded-For: 6.6.6.6\nX-Forwarded-For: 10.0.0.7\r\n\n");
}

TEST(HttpForwarderTest, PipelinedKeepAliveRequestsWithBodiesEachGetTheHeaders) {
  const std::string in =
      "POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /"
      "GET /b HTTP/1.1\r\n\r\n"
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nGET \r\n0\r\nT: 1\r\n\r\n"
      "\r\nGET /d HTTP/1.1\r\n\r\n";
  const std::string want =
      "POST /a HTTP/1.1\r\nContent-Length: 5\r\nX-Forwarded-For: 10.0.0.7\r\n\r\nGET /"
      "GET /b HTTP/1.1\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n"
      "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n4;x=y\r\nGET \r\n0\r\nT: 1\r\n\r\n"
      "\r\nGET /d HTTP/1.1\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n";
  HttpForwarder fwd;
  EXPECT_EQ(forward(in, 1 << 20, 64 * 1024, &fwd), want);
  EXPECT_EQ(fwd.requests(), 4u);
  // The same bytes one at a time (requests split across reads), and through
  // a buffer too small for all of them at once.
  EXPECT_EQ(forward(in, 1), want);
  EXPECT_EQ(forward(in, 7, 300), want);
}

TEST(HttpForwarderTest, BodiesAreNotParsed) {
  const std::string body(100000, '\n');  // would be empty lines, were it parsed
  const std::string in = "PUT / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + body + "GET / HTTP/1.1\r\n\r\n";
  const std::string out = forward(in, 4096);
  EXPECT_EQ(out, "PUT / HTTP/1.1\r\nContent-Length: 100000\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n" + body +
                     "GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n");
}

TEST(HttpForwarderTest, ExpectContinueAndAnIncompleteRequestWait) {
  // Headers now, the body once the server said 100 Continue: nib passes the
  // headers at once and the body whenever it comes.
  EXPECT_EQ(forward("PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
            "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n");
  EXPECT_EQ(forward("GET / HTTP/1.1\r\nHost: a\r\nAcc"), "GET / HTTP/1.1\r\nHost: a\r\nAcc");
}

TEST(HttpForwarderTest, ConnectAndUpgradeTurnTheRestIntoATunnel) {
  EXPECT_EQ(forward("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x05hello\n\n GET / HTTP/1.1\r\n\r\n"),
            "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n\x81\x05hello\n\n GET / "
            "HTTP/1.1\r\n\r\n");
  EXPECT_EQ(forward("CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03\x01"),
            "CONNECT a:443 HTTP/1.1\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n\x16\x03\x01");
}

TEST(HttpForwarderTest, WhatAServerCouldReadDifferentlyIsABadRequest) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"GET /\r\n\r\n", "a request line that is not METHOD TARGET HTTP/1.x"},
      {"GET / HTTP/2.0\r\n\r\n", "not an HTTP/1.x request"},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "not an HTTP/1.x request"},
      {"G(T / HTTP/1.1\r\n\r\n", "a malformed method"},
      {"GET /a\x01 HTTP/1.1\r\n\r\n", "a malformed request target"},
      {"GET / HTTP/1.1\r\nContent-Length : 5\r\n\r\n", "a malformed header name"},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", "a header line without a colon"},
      {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "obsolete line folding"},
      {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "a bare CR in a line"},
      {"GET / HTTP/1.1\r\nA: b" + std::string(1, '\0') + " c\r\n\r\n", "a control character in a header value"},
      {"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "a malformed Content-Length"},
      {"GET / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", "a malformed Content-Length"},
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting Content-Length headers"},
      {"GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       "both Content-Length and Transfer-Encoding"},
      {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       "a Transfer-Encoding that does not end in chunked"},
      {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "a malformed chunk size"},
      {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
       "a chunk size over 15 hex digits"},
      {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "chunk data longer than its size"},
      {"GET / HTTP/1.1\r\n" + std::string(9000, 'a') + "\r\n\r\n", "a line longer than 8 KiB"},
  };
  for (const auto& [in, why] : cases) {
    EXPECT_EQ(forward(in), "400: " + why) << in;
    EXPECT_EQ(forward(in, 1), "400: " + why) << in << " (byte by byte)";
  }
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 1000; ++i) many += "X-Header-" + std::to_string(i) + ": " + std::string(60, 'v') + "\r\n";
  EXPECT_EQ(forward(many + "\r\n"), "400: a header block larger than 64 KiB");
}

TEST(HttpForwarderTest, AHeaderBlockAtTheLimitPassesAlsoWhenItsHeadersWaitForRoom) {
  std::string block = "GET / HTTP/1.1\r\n";
  auto line = [](char name, size_t size) { return std::string("X-") + name + ": " + std::string(size - 7, 'v') + "\r\n"; };
  for (char c = 'a'; c < 'a' + 8; ++c) block += line(c, 8000);
  block += line('z', HttpForwarder::kMaxHeaderBlock - block.size() - 2);
  block += "\r\n";
  ASSERT_EQ(block.size(), HttpForwarder::kMaxHeaderBlock);
  std::vector<char> buf(block.begin(), block.end());
  buf.resize(block.size() + kXff.size());
  uint32_t ready = 0, len = static_cast<uint32_t>(block.size());
  HttpForwarder fwd;
  // No room for the headers: the block waits, whole, at its end...
  ASSERT_EQ(fwd.advance(buf.data(), &ready, &len, len, kXff), HttpForwarder::Step::kNeedRoom);
  // ... and with room the same end line is read again, counted once.
  EXPECT_EQ(fwd.advance(buf.data(), &ready, &len, static_cast<uint32_t>(buf.size()), kXff),
            HttpForwarder::Step::kNeedData)
      << fwd.error();
  EXPECT_EQ(fwd.requests(), 1u);
  std::string over = block;
  over.insert(20, "v");  // one byte more, inside X-a's value
  EXPECT_EQ(forward(over), "400: a header block larger than 64 KiB");
}

TEST(HttpForwarderTest, ResetStartsAFreshConnection) {
  HttpForwarder fwd;
  EXPECT_EQ(forward("GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab", 1 << 20, 64 * 1024, &fwd).substr(0, 3), "GET");
  fwd.reset();
  EXPECT_EQ(fwd.requests(), 0u);
  EXPECT_EQ(forward("GET / HTTP/1.1\r\n\r\n", 1 << 20, 64 * 1024, &fwd),
            "GET / HTTP/1.1\r\nX-Forwarded-For: 10.0.0.7\r\n\r\n");
}

}  // namespace
}  // namespace nib
