#pragma once
// The range of every numeric setting, in one place: the YAML loader, Pen's
// command line, the REST and gRPC APIs and the registry all check against
// these, so a value is accepted (and an error worded) the same way whichever
// way it came in.
#include <cstddef>
#include <cstdint>
#include <string>

namespace nib {

struct IntRange {
  int64_t min;
  int64_t max;
  constexpr bool contains(int64_t v) const { return v >= min && v <= max; }
  // For unsigned inputs (JSON, protobuf), without a sign-changing comparison.
  constexpr bool contains_unsigned(uint64_t v) const {
    return max >= 0 && v <= static_cast<uint64_t>(max) && (min <= 0 || v >= static_cast<uint64_t>(min));
  }
};

struct SecondsRange {
  double min;
  bool min_exclusive;  // timeouts: 0 would mean "give up at once"
  double max;
  bool contains(double v) const;  // false for NaN and infinities
};

// No duration may exceed this: the dataplane turns seconds into int64
// nanoseconds, and 1e9 s (~31 years) keeps that far from overflowing.
inline constexpr double kMaxSeconds = 1e9;

namespace limits {
inline constexpr IntRange kWorkers{0, 256};
inline constexpr IntRange kTableSize{1, 100'000'000};
inline constexpr IntRange kPort{1, 65535};
inline constexpr IntRange kConnectionLimit{0, 1'000'000};  // soft_limit, hard_limit
inline constexpr IntRange kWeight{0, 10'000};
inline constexpr IntRange kPrio{0, 1'000'000};
inline constexpr IntRange kMaxConnections{0, 10'000'000};
// Pen's pending_max: client connections not yet connected to a backend. 0 = no limit.
inline constexpr IntRange kPendingMax{0, 10'000'000};
// Pen's idlers: idle connections a TCP service keeps open to its backends.
inline constexpr IntRange kIdlers{0, 10'000};
inline constexpr IntRange kBacklog{1, 65535};
inline constexpr IntRange kMultiAccept{1, 1'000'000};  // Pen's -m: checked, then ignored
// The admin APIs' own: backend ids (0 names none) and a page of clients.
inline constexpr IntRange kBackendId{1, UINT32_MAX};
inline constexpr IntRange kPageSize{1, 10'000};
inline constexpr uint32_t kDefaultPageSize = 100;
// blacklist, tracking, idle_timeout, shutdown_grace
inline constexpr SecondsRange kSeconds{0, false, kMaxSeconds};
inline constexpr SecondsRange kConnectTimeout{0, true, 3600};
// A TLS client's handshake, accept to finished.
inline constexpr SecondsRange kTlsHandshakeTimeout{0, true, 3600};
// How often a TLS service's files are looked at for a change (0 = never).
inline constexpr SecondsRange kTlsWatchInterval{0, false, 86400};
// UDP: how long a silent session lives (0 would end every session at once),
// and the session limit (0 = as many as file descriptors allow).
inline constexpr SecondsRange kSessionTimeout{0, true, kMaxSeconds};
inline constexpr IntRange kMaxSessions{0, 10'000'000};
// Records each worker's access log ring holds (rounded up to a power of two).
inline constexpr IntRange kAccessLogRing{1, 1'048'576};
// How long a backend that came up ramps to its full share (0 = off).
inline constexpr SecondsRange kSlowStart{0, false, 3600};

// Text nib keeps and writes back out (state file, events, logs, pages), in
// bytes; dataplane/config/stored_text.h holds the rules.
inline constexpr size_t kServiceNameBytes = 64;
inline constexpr size_t kHostBytes = 253;  // the longest DNS name; IP literals are shorter
// Entries of a client ACL set through the admin APIs (and saved with them).
inline constexpr size_t kAclEntries = 1000;
// One entry's text: "permit " and an IPv6 prefix or a dotted mask fit with
// room; anything far longer is refused before its text is echoed in an error.
inline constexpr size_t kAclEntryBytes = 128;
// A file or directory path set through the admin APIs (TLS settings): PATH_MAX.
inline constexpr size_t kPathBytes = 4096;
// A TLS 1.2 cipher list or an ALPN list set through the admin APIs.
inline constexpr size_t kTlsListBytes = 1024;
// An http check's method, path and Host header (they go out in a request line).
inline constexpr size_t kHttpCheckFieldBytes = 1024;
// ---- Dataplane limits: what the process lets itself use. Each is described,
// with its default and its metric, in docs/operations.md ("Dataplane limits").

// Active checks read and examine at most this much of a reply (an http
// check's status line and body, a send-expect reply, a udp datagram, which
// is at most 65,527 bytes): a check never buffers a download, and a pattern
// never sees more. A reply cut here has no end: `$` does not match in it.
inline constexpr size_t kMaxCheckReplyBytes = 64 * 1024;
// expect_regex patterns (dataplane/base/linear_regex.h): the matcher's work
// per reply byte grows with the program, so the pattern's size is bounded.
inline constexpr size_t kMaxRegexPatternBytes = 1024;
inline constexpr size_t kMaxRegexInstructions = 2000;
inline constexpr uint32_t kMaxRegexNesting = 32;
inline constexpr uint32_t kMaxRegexRepeat = 1000;

// The descriptor budget (dataplane/resource/fd_budget.h): of RLIMIT_NOFILE,
// what is open once the listeners are bound and this headroom are kept from
// the dataplane's per-client descriptors (two per relayed TCP connection, two
// per splice pipe, one per UDP session). The headroom serves the admin
// plane's connections (HTTP, gRPC, penctl), health-check probes, the state
// and status files and logs: limit / kFdHeadroomDivisor, within
// [kFdHeadroomMin, kFdHeadroomMax].
inline constexpr uint64_t kFdHeadroomMin = 64;
inline constexpr uint64_t kFdHeadroomMax = 1024;
inline constexpr uint64_t kFdHeadroomDivisor = 8;
// A splice pipe is opened only while more than budget / kPipeFreeDivisor
// descriptors are free: when descriptors run short, relays copy through their
// buffers and the descriptors go to clients.
inline constexpr uint64_t kPipeFreeDivisor = 4;
// Relay buffers (64 KiB each, held while bytes wait for a slow reader, two
// per connection at most): all TCP workers together hold at most
// 1/kRelayMemoryDivisor of the memory nib may use (physical memory, or the
// cgroup's memory.max when smaller), and at least kRelayMemoryMinBytes. A
// connection is admitted only with room for its two, so a worker whose share
// is taken stops accepting until one of its connections closes.
inline constexpr uint64_t kRelayMemoryDivisor = 4;
inline constexpr uint64_t kRelayMemoryMinBytes = uint64_t{64} << 20;
// After the kernel refused a descriptor or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM), a listener waits this long before accepting again, doubling up to
// the max while the shortage lasts; a connection closing wakes it earlier.
inline constexpr int64_t kAcceptRetryMinMs = 100;
inline constexpr int64_t kAcceptRetryMaxMs = 2000;
// One WARN line per burst of shortages of one resource: a burst ends after
// this long without one (each is still counted in nib_resource_exhausted_total).
inline constexpr int64_t kShortageQuietMs = 10'000;
}  // namespace limits

// "an integer 1-65535"
std::string describe(IntRange range);
// "seconds >= 0", "seconds > 0 and <= 3600"
std::string describe(SecondsRange range);

}  // namespace nib
