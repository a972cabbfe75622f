#pragma once
// Pen's -H for HTTP/1.x: the client-to-server half of a connection, parsed
// just enough to add forwarding headers (X-Forwarded-For, ...) to every
// request, pipelined and keep-alive ones too, and to refuse what a server
// could read differently from nib (request smuggling).
//
// It works in place on the relay's own buffer and allocates nothing: bytes
// it has passed are ready to send; an incomplete line waits for more input;
// bodies (Content-Length or chunked) and trailers pass unparsed but counted.
// The inserted headers go last in each header block, so that a server which
// joins repeated headers ends with nib's value, never a client's.
//
// A request after which the connection is no longer HTTP (CONNECT, or one
// asking for an Upgrade) turns the rest of the stream into a tunnel.
#include <cstdint>
#include <string_view>

namespace nib {

class HttpForwarder {
 public:
  // Lines (the request line, a header, a chunk size, a trailer) longer than
  // this are refused, and so is a header block larger than kMaxHeaderBlock.
  static constexpr uint32_t kMaxLine = 8 * 1024;
  static constexpr uint32_t kMaxHeaderBlock = 64 * 1024;

  enum class Step : uint8_t {
    kNeedData,    // all input parsed, or an incomplete line waits at *ready
    kNeedRoom,    // the headers to insert do not fit: send, compact, call again
    kBadRequest,  // malformed: error() says why; nothing more may be sent
  };

  // A fresh connection: the next bytes start a request.
  void reset();

  // Parses buf[*ready, *len), within a buffer of `capacity` bytes, moving
  // *ready past every byte that may go to the server now. At the end of each
  // request's header block `insert` (whole header lines, CRLF each) is put
  // in, and what follows moves up: *len grows by its size.
  Step advance(char* buf, uint32_t* ready, uint32_t* len, uint32_t capacity, std::string_view insert);

  // Why the last kBadRequest (a static string).
  const char* error() const { return error_; }
  // The rest of the stream is no longer HTTP (after CONNECT or an Upgrade):
  // it passes as it is.
  bool in_tunnel() const { return state_ == State::kTunnel; }
  // Body bytes (of a Content-Length body or of a chunk) due next, which may
  // pass around the parser (spliced) once the buffer is empty; 0 when the
  // next bytes must be parsed. passed(n) takes n <= body_due() of them.
  uint64_t body_due() const {
    return state_ == State::kBody || state_ == State::kChunkData ? body_left_ : 0;
  }
  void passed(uint64_t n);
  // Requests whose header block was complete (and got the headers).
  uint32_t requests() const { return requests_; }

 private:
  enum class State : uint8_t {
    kRequestLine,
    kHeader,
    kBody,        // body_left_ bytes of a Content-Length body
    kChunkSize,
    kChunkData,   // body_left_ bytes of a chunk, then its CRLF
    kChunkEnd,    // the CRLF after a chunk's data
    kTrailer,
    kTunnel,
  };

  Step bad(const char* why) {
    error_ = why;
    return Step::kBadRequest;
  }
  bool reject(const char* why) {
    error_ = why;
    return false;
  }
  // One complete line (without its line end) in the state it belongs to;
  // false with error_ set when it is malformed.
  bool request_line(std::string_view line);
  bool header(std::string_view line);
  bool chunk_size(std::string_view line);
  // The header block ended: what follows it.
  State after_headers() const;

  State state_ = State::kRequestLine;
  uint64_t body_left_ = 0;
  uint32_t block_size_ = 0;  // of the current header block so far
  uint32_t requests_ = 0;
  // Of the current request.
  bool has_length_ = false;
  bool chunked_ = false;
  bool has_te_ = false;
  bool tunnel_after_ = false;  // CONNECT or Upgrade
  const char* error_ = "";
};

}  // namespace nib
