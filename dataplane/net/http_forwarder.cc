#include "dataplane/net/http_forwarder.h"

#include <algorithm>
#include <cstring>

namespace nib {
namespace {

// RFC 9110's tchar: what a method and a header name are made of.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool all_tchars(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// A control character other than HT (NUL, CR, LF, DEL...): never valid in a
// field value or a request target.
bool is_ctl(char c) { return (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// Digits only, at most 18 of them (no sign, no list, no overflow).
bool parse_length(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void HttpForwarder::reset() { *this = HttpForwarder(); }

HttpForwarder::Step HttpForwarder::advance(char* buf, uint32_t* ready, uint32_t* len, uint32_t capacity,
                                           std::string_view insert) {
  while (*ready < *len) {
    const uint32_t avail = *len - *ready;
    if (state_ == State::kTunnel) {
      *ready = *len;
      break;
    }
    if (const uint64_t due = body_due(); due != 0) {
      const auto n = static_cast<uint32_t>(std::min<uint64_t>(due, avail));
      *ready += n;
      passed(n);
      continue;
    }
    char* start = buf + *ready;
    const auto* lf = static_cast<const char*>(std::memchr(start, '\n', std::min(avail, kMaxLine + 2)));
    if (lf == nullptr) {
      if (avail > kMaxLine + 1) return bad("a line longer than 8 KiB");
      break;  // the rest of the line is still to come
    }
    const auto full = static_cast<uint32_t>(lf - start) + 1;  // with its line end
    std::string_view line(start, full - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) return bad("a bare CR in a line");
    switch (state_) {
      case State::kRequestLine:
        // RFC 9112 2.2: empty lines before a request line are ignored.
        if (!line.empty() && !request_line(line)) return Step::kBadRequest;
        if (!line.empty()) {
          block_size_ = full;
          state_ = State::kHeader;
        }
        break;
      case State::kHeader:
        if (block_size_ + full > kMaxHeaderBlock) return bad("a header block larger than 64 KiB");
        if (!line.empty()) {
          if (!header(line)) return Step::kBadRequest;
          block_size_ += full;  // counted once passed: a kNeedRoom retry reads its line again
          break;
        }
        // Its end: nib's headers go in before this empty line.
        if (has_te_ && has_length_) return bad("both Content-Length and Transfer-Encoding");
        if (has_te_ && !chunked_) return bad("a Transfer-Encoding that does not end in chunked");
        if (*len + insert.size() > capacity) return Step::kNeedRoom;
        std::memmove(start + insert.size(), start, avail);
        std::memcpy(start, insert.data(), insert.size());
        *len += static_cast<uint32_t>(insert.size());
        *ready += static_cast<uint32_t>(insert.size());
        ++requests_;
        state_ = after_headers();
        break;
      case State::kChunkSize:
        if (!chunk_size(line)) return Step::kBadRequest;
        state_ = body_left_ == 0 ? State::kTrailer : State::kChunkData;
        break;
      case State::kChunkEnd:
        if (!line.empty()) return bad("chunk data longer than its size");
        state_ = State::kChunkSize;
        break;
      case State::kTrailer:
        if (line.empty()) {
          state_ = State::kRequestLine;
        } else if (line.front() == ' ' || line.front() == '\t') {
          return bad("obsolete line folding");
        } else if (size_t colon = line.find(':'); colon == std::string_view::npos || !all_tchars(line.substr(0, colon))) {
          return bad("a malformed trailer field");
        }
        break;
      case State::kBody:
      case State::kChunkData:
      case State::kTunnel:
        break;  // handled above
    }
    *ready += full;
  }
  return Step::kNeedData;
}

void HttpForwarder::passed(uint64_t n) {
  body_left_ -= n;
  if (body_left_ == 0) state_ = state_ == State::kBody ? State::kRequestLine : State::kChunkEnd;
}

bool HttpForwarder::request_line(std::string_view line) {
  has_length_ = chunked_ = has_te_ = tunnel_after_ = false;
  body_left_ = 0;
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return reject("a request line that is not METHOD TARGET HTTP/1.x");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!all_tchars(method)) return reject("a malformed method");
  if (target.empty() || std::any_of(target.begin(), target.end(), [](char c) { return c == ' ' || is_ctl(c); })) {
    return reject("a malformed request target");
  }
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9') {
    return reject("not an HTTP/1.x request");
  }
  tunnel_after_ = method == "CONNECT";
  return true;
}

bool HttpForwarder::header(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') return reject("obsolete line folding");
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return reject("a header line without a colon");
  const std::string_view name = line.substr(0, colon);
  // "Content-Length : 5" is read as a header by some servers and not by
  // others: refused (RFC 9112 5.1).
  if (!all_tchars(name)) return reject("a malformed header name");
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (std::any_of(value.begin(), value.end(), is_ctl)) return reject("a control character in a header value");
  if (iequals(name, "content-length")) {
    uint64_t length = 0;
    if (!parse_length(value, &length)) return reject("a malformed Content-Length");
    if (has_length_ && length != body_left_) return reject("conflicting Content-Length headers");
    has_length_ = true;
    body_left_ = length;
  } else if (iequals(name, "transfer-encoding")) {
    has_te_ = true;
    const size_t comma = value.rfind(',');
    chunked_ = iequals(trim_ows(comma == std::string_view::npos ? value : value.substr(comma + 1)), "chunked");
  } else if (iequals(name, "upgrade")) {
    tunnel_after_ = true;
  }
  return true;
}

bool HttpForwarder::chunk_size(std::string_view line) {
  uint64_t size = 0;
  size_t i = 0;
  for (; i < line.size() && hex_value(line[i]) >= 0; ++i) {
    if (i == 15) return reject("a chunk size over 15 hex digits");
    size = size * 16 + static_cast<uint64_t>(hex_value(line[i]));
  }
  if (i == 0) return reject("a malformed chunk size");
  std::string_view rest = trim_ows(line.substr(i));
  if (!rest.empty() && rest.front() != ';') return reject("a malformed chunk size");
  if (std::any_of(rest.begin(), rest.end(), is_ctl)) return reject("a control character in a chunk extension");
  body_left_ = size;
  return true;
}

HttpForwarder::State HttpForwarder::after_headers() const {
  if (tunnel_after_) return State::kTunnel;
  if (chunked_) return State::kChunkSize;
  return body_left_ != 0 ? State::kBody : State::kRequestLine;
}

}  // namespace nib
