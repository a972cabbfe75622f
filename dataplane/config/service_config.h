#pragma once
// The dataplane's input: what a service is. Filled by the YAML loader, by Pen's
// command line (exactly one service), and later by the admin API. Plain data;
// parsing and source positions live in server/config.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/base/loop_backend.h"
#include "dataplane/base/linear_regex.h"
#include "dataplane/base/status.h"
#include "dataplane/net/access_list.h"
#include "dataplane/net/country_lookup.h"
#include "dataplane/net/ip_prefix.h"
#include "dataplane/net/proxy_protocol.h"
#include "dataplane/net/socket_address.h"
#include "dataplane/net/tls_session.h"

namespace nib {

enum class Protocol { kTcp, kUdp };

// Pen's server selection. Tracking (the affinity table) is on in every mode but
// kRoundRobin, which is Pen's -r; the mode picks the *initial* server.
enum class BalanceMode {
  kAffinity,    // Pen's default: tracking, round-robin initial choice
  kRoundRobin,  // -r: round-robin, no tracking
  kHash,        // -h: hash of the client IP
  kWeight,      // -W: lowest active connections / weight
  kPrio,        // -o prio: lowest prio value among usable servers
  kMaglev,      // Maglev hashing of the client IP (balancer/maglev.h); no Pen flag
};

const char* to_string(BalanceMode mode);
struct PolicyConfig;
// How new clients are placed: kMaglev for kAffinity with `consistent`, else the mode.
BalanceMode initial_choice(const PolicyConfig& policy);
const char* to_string(Protocol protocol);
std::optional<BalanceMode> parse_balance_mode(std::string_view text);

struct PolicyConfig {
  BalanceMode mode = BalanceMode::kAffinity;
  bool stubborn = false;           // -s: never fail over from the initial choice
  double tracking_seconds = 0;     // -T: 0 = remembered clients never expire
  double blacklist_seconds = 30;   // -b
  uint64_t table_size = 2048;      // -c: affinity table slots
  // kAffinity's initial choice by Maglev hashing instead of round-robin, so
  // replicas with the same backends send a new client to the same one (the
  // client table still remembers it). Only kAffinity reads it: kMaglev is
  // Maglev anyway, and the other modes are Pen's own rules.
  bool consistent = false;
  // TCP connection settings, changeable at runtime (penctl timeout,
  // idle_timeout, conn_max; SetPolicy) and by a reload. The connect timeout
  // applies to connections accepted after the change; the idle timeout to
  // open ones too, counted from each one's last activity (an operator lowers
  // it to reclaim idle connections now, as with Pen's global setting).
  double connect_timeout_seconds = 5;  // -t
  double idle_timeout_seconds = 0;     // 0 = never (Pen's default)
  uint32_t max_connections = 0;        // -x: 0 = as many as descriptors allow
  // Pen's pending_max: clients accepted but not yet connected to a backend
  // (connecting, or awaiting a PROXY header). At the limit accepting pauses
  // until one connects or fails; the rest wait in the backlog. It bounds the
  // connects a flood of clients (or a backend that answers SYNs slowly) can
  // have in flight at once. 0 = no limit.
  uint32_t pending_max = 0;
  // Pen's idlers (TCP): idle connections kept open to the backends
  // (tcp/idler_pool.h). 0 = none.
  uint32_t idlers = 0;

  bool operator==(const PolicyConfig&) const = default;
};

// Active health checks (issue: "know before a client pays for it"). Run by
// health/health_checker on its own loop; a backend without a check is always
// up as far as health goes (Pen's passive blacklist still applies).
// kUdp is the only type for udp services; the others connect over TCP and
// are for tcp services only (validate() enforces both).
enum class HealthCheckType : uint8_t { kTcp, kHttp, kSendExpect, kUdp };
const char* to_string(HealthCheckType type);

struct HealthCheckConfig {
  HealthCheckType type = HealthCheckType::kTcp;
  double interval_seconds = 2;
  double timeout_seconds = 1;  // < interval, so one probe is in flight at a time
  uint32_t rise = 2;           // consecutive successes that bring a down backend up
  uint32_t fall = 3;           // consecutive failures that take an up backend down
  // Each interval is stretched or shrunk by up to this fraction (0-0.5) at
  // random, so checks of many backends do not march in step.
  double jitter = 0;
  // http: the request, and what counts as a pass.
  std::string method = "GET";
  std::string path = "/";
  std::string host_header;      // empty: the backend's host as configured
  uint16_t status_min = 200;    // accepted status codes, inclusive
  uint16_t status_max = 399;
  std::string body_contains;    // empty: the body is not looked at
  // send-expect: bytes to send once connected (empty: just read, for servers
  // that greet first), and what the reply must contain: these bytes, or a
  // match of this pattern when expect_regex (an ECMAScript subset matched in
  // linear time: dataplane/base/linear_regex.h). Either is looked for in the
  // first limits::kMaxCheckReplyBytes of the reply.
  // udp: the one datagram sent (may be empty), and what the reply datagram
  // must contain (empty: any reply passes; the check still needs a reply, as
  // a UDP server that says nothing cannot be told from a dead one).
  std::string send;
  std::string expect;
  bool expect_regex = false;
  // Probes bind here before connecting (port 0 = any); unset = kernel's choice.
  std::optional<SocketAddress> source;

  bool operator==(const HealthCheckConfig&) const = default;
};

// Field ranges and cross-field rules (timeout < interval, ...); the message
// names the field. Loaders call it to put a line on the error.
Status check(const HealthCheckConfig& config);
// An expect_regex pattern, compiled within the bounds of config/limits.h.
Result<LinearRegex> compile_expect_regex(std::string_view pattern);
// Whether a check of `type` makes sense for a service of `protocol`: udp
// checks for udp services, the TCP-based types for tcp services.
Status check_type(HealthCheckType type, Protocol protocol);
// check_type() then check().
Status check_for(const HealthCheckConfig& config, Protocol protocol);
// Whether a service of `protocol`, or one of its backends, may send PROXY
// headers of `version` (nullopt: a backend taking the service's).
Status check_proxy_protocol(Protocol protocol, std::optional<ProxyProtocol> version);
// A backend's tcp_fast_open: TCP's, so not for a UDP service.
Status check_tcp_fast_open(Protocol protocol, bool on);
// Pen's idlers are TCP connections: a UDP or direct-server-return service
// (dsr) takes none.
Status check_idlers(Protocol protocol, bool dsr, uint32_t idlers);

struct BackendConfig {
  std::string host;       // as written (name or literal), for display
  SocketAddress address;  // resolved
  uint32_t soft_limit = 0;  // max connections for new clients, 0 = unlimited
  uint32_t hard_limit = 0;  // max connections for returning clients, 0 = unlimited
  uint32_t weight = 1;
  uint32_t prio = 0;        // lower is preferred
  // Its own PROXY header version (a backend behind a listener that wants one
  // while its peers do not); nullopt: the service's proxy_protocol.
  std::optional<ProxyProtocol> proxy_protocol;
  // TCP Fast Open toward it (issue 18): a connect that has the client's first
  // bytes in hand (defer_accept, or bytes behind an accepted PROXY header)
  // sends them in the SYN; otherwise, and with backend_tls, a plain connect.
  bool tcp_fast_open = false;
  // Overrides the service's health_check for this backend.
  std::optional<HealthCheckConfig> health_check;
  // Where it came from: empty for the configuration and the admin APIs
  // (an operator's), "dns" for one server/discovery found. Shown in the
  // backend views; the state file (--state) keeps only the operator's.
  std::string source;

  bool operator==(const BackendConfig&) const = default;
};

// Pen's tcp_fastclose sides: "up" is the backend (upstream), "down" the
// client (downstream). A bit each, so kBoth is both.
enum class FastClose : uint8_t { kOff = 0, kUp = 1, kDown = 2, kBoth = 3 };
inline bool closes_on(FastClose mode, FastClose side) {
  return (static_cast<uint8_t>(mode) & static_cast<uint8_t>(side)) != 0;
}
// Pen's words: "off", "up", "down", "both"; parse_fast_close: nullopt for others.
const char* to_string(FastClose mode);
std::optional<FastClose> parse_fast_close(std::string_view word);

// TLS termination (issue 13; Pen's -E -K -G -A -R -L and its ssl_* words):
// clients speak TLS to nib, the backends get the plaintext. The files are
// read by tls/ (OpenSSL) in the server, which hands the service a
// TlsTerminator (ServiceConfig::tls_terminator); the dataplane sees only
// that. A reload (SIGHUP) reads the files again; a bad file at reload keeps
// the certificates in use and says why.
enum class TlsClientAuth : uint8_t {
  kOff,       // no client certificate is asked for
  kOptional,  // asked for; one that is sent must verify against the CAs
  kRequired,  // Pen's -R: a client without a valid certificate is refused
};
const char* to_string(TlsClientAuth auth);
std::optional<TlsClientAuth> parse_tls_client_auth(std::string_view text);

struct TlsConfig {
  std::string cert_file;  // PEM certificate, chain after it (-E); empty: no TLS
  std::string key_file;   // PEM private key (-K); empty: in cert_file, as Pen's
  std::string ca_file;    // CAs client certificates must chain to (-G)
  std::string ca_dir;     // the same, a hashed directory (-A)
  // Pen's ssl_sni_path: a directory of NAME.crt + NAME.key (+ NAME.ca, the
  // CAs for that name's clients); a client asking for NAME by SNI gets that
  // certificate, any other client cert_file's.
  std::string sni_path;
  std::string min_version = "1.2";  // "1.2" or "1.3": the lowest protocol accepted
  std::string ciphers;              // TLS 1.2 cipher list (Pen's ssl_ciphers); empty: OpenSSL's
  TlsClientAuth client_auth = TlsClientAuth::kOff;
  bool prefer_server_ciphers = false;  // Pen's ssl_option cipher_server_preference
  // A client that has not finished its handshake by then is closed and
  // counted (a stalled or garbage-sending client costs one connection).
  double handshake_timeout_seconds = 10;
  // How often the files are looked at for a change (a Kubernetes Secret
  // rotated under a running pod); a change is read in as by SIGHUP. 0: only
  // SIGHUP reads them.
  double watch_interval_seconds = 0;
  // ALPN: the protocols nib agrees to, in its order of preference ("h2",
  // "http/1.1"); the first a client also offers is chosen, and a backend
  // reached over TLS is offered that one. Empty: ALPN is not answered.
  std::vector<std::string> alpn;
  // Pen's ssl_ocsp_response: a DER OCSP response for cert_file, stapled to
  // every handshake whose client asks for one; re-read with the certificate.
  std::string ocsp_response_file;
  bool enabled() const { return !cert_file.empty(); }
  bool operator==(const TlsConfig&) const = default;
};

// TLS from nib to the backends (re-encryption), with or without TLS toward
// the clients. Verification is on unless turned off: the backend's
// certificate must chain to ca_file / ca_dir (the system's CAs when both are
// empty) and name server_name, or the backend's IP address when that is
// empty. A handshake that fails counts as a failed connect to that backend.
struct BackendTlsConfig {
  bool enabled = false;
  bool verify = true;
  std::string ca_file;
  std::string ca_dir;
  std::string server_name;  // sent as SNI and verified; empty: no SNI, the IP is verified
  std::string cert_file;    // a client certificate for backends that ask for one
  std::string key_file;     // its key; empty: in cert_file
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string ciphers;              // TLS 1.2 cipher list; empty: OpenSSL's
  bool operator==(const BackendTlsConfig&) const = default;
};

struct ServiceConfig {
  std::string name;
  SocketAddress listen;
  // Pen's `/path/to/socket` listen argument: a TCP service whose clients
  // connect over a Unix stream socket at this path (the backends stay TCP);
  // `listen` is then not used. Empty: the IP listener `listen`. The socket
  // follows the process umask (as Pen's does), since clients of other users
  // may connect; a stale socket file is replaced, a live one refused, and
  // the file is removed at exit. Such clients have no IP: they are seen as
  // 0.0.0.0 port 0 (ACL, logs, PROXY headers, X-Forwarded-For) and are never
  // remembered in the client table. Not with udp, transparent or
  // dsr_interface. Set at start: a change needs a restart.
  std::string listen_path;  // Pen's [host:]port|/path, YAML listen: /path
  Protocol protocol = Protocol::kTcp;
  PolicyConfig policy;
  std::vector<BackendConfig> backends;
  std::optional<BackendConfig> emergency;
  // Pen's abuse server (-B): clients the client ACL denies are relayed here
  // instead of being closed. Never a failover target nor a failover source
  // (it failing closes the client), never remembered in the client table,
  // never counted against a regular backend. Unset: denied clients are closed.
  std::optional<BackendConfig> abuse;
  int backlog = 4096;                   // -q
  // TCP_DEFER_ACCEPT: a client is accepted once its first bytes are in, and
  // they are read at once. Clients of protocols where the server speaks first
  // (SMTP, FTP, MySQL) are accepted only after about a second.
  bool defer_accept = false;            // --defer-accept
  // TCP_NODELAY on client and backend sockets, so a relayed small write
  // leaves at once instead of waiting for the previous segment's ACK. Pen's
  // default is off ("no tcp_nodelay"); nib's is on (docs/pen-compat.md says
  // why). Set on the listening sockets: a change needs a restart.
  bool tcp_nodelay = true;              // -o "[no] tcp_nodelay", YAML tcp_nodelay
  // Pen's tcp_fastclose: when the named side closes its sending half, close
  // the whole connection at once instead of passing the half-close on and
  // waiting for the other side's FIN. For peers that never close their end
  // (clients that linger after the reply). Set at start: a change needs a
  // restart.
  FastClose tcp_fastclose = FastClose::kOff;  // -o "tcp_fastclose up|down|both|off"
  // Pen's keepalive: SO_KEEPALIVE on client and backend sockets, so the
  // kernel finds a peer that vanished without a FIN on an idle connection.
  // Set at start: a change needs a restart.
  bool keepalive = false;               // -o "[no] keepalive", YAML keepalive
  // Pen's `source IP`: the local address of connections to the backends
  // (TCP and UDP; health checks too, unless their own `source` says
  // otherwise), for a multi-homed host whose backends or firewalls expect
  // one address. Applies to backends of its family; port 0 (the kernel
  // picks one at connect). Set at start: a change needs a restart.
  std::optional<SocketAddress> source;  // -o "source IP", YAML source
  // Pen's -H: the service speaks HTTP/1.x, and every request (each one on a
  // keep-alive connection) gets X-Forwarded-For (the client's IP) and
  // X-Forwarded-Proto: http, last in its header block. A malformed request
  // (or one a server could read differently: request smuggling) closes the
  // connection, with a 400 when it was the first. TCP only; set at start.
  bool http = false;            // -H, -o http, YAML http
  bool http_forwarded = false;  // YAML http_forwarded: also RFC 7239's Forwarded
  // Pen's dummy: nib itself answers every HTTP request with a small fixed
  // 200 page and no backend is contacted, to measure the balancer alone
  // (only useful for testing). A request ends at its blank line; bodies are
  // not understood. TCP only; set at start.
  bool dummy = false;  // -o dummy, YAML dummy
  // Pen's Transparent Reverse Proxy: connections to the backends (TCP and
  // UDP) leave from the client's own IP, so the backends see the client
  // (IP_TRANSPARENT, needs CAP_NET_ADMIN; the backends' replies must route
  // back through nib: docs/transparent-proxy.md). Overrides `source`, which
  // still applies to a client of the other family than its backend.
  // Health checks leave from nib's address. Set at start.
  bool transparent = false;  // -O transparent, YAML transparent
  // Pen's Direct Server Return: the service is not a socket but an IPv4
  // address (the listen address; port 0 = every port) nib answers ARP for on
  // this interface; the clients' frames go to the chosen backend with only
  // their MAC addresses changed, and the backends (holding the address
  // themselves, on nib's segment) answer the clients directly. Needs
  // CAP_NET_RAW; docs/configuration.md#direct-server-return. Set at start.
  std::string dsr_interface;  // -O "dsr_if IF", YAML dsr_interface
  // Pen's tarpit_acl, with dsr_interface: nib also answers ARP for the
  // addresses this list permits, and a SYN to them with a SYN-ACK that leads
  // nowhere, so a scanner of the network finds many open ports that hold it.
  // Empty: no tarpit. Set at start.
  AccessList tarpit;  // -O "tarpit_acl N" (the list `acl N` made), YAML tarpit
  // The PROXY protocol header (v1 text or v2 binary) sent to the backends
  // ahead of each client's bytes, so that they see the real client. TCP
  // only. Set at start: a change needs a restart.
  ProxyProtocol proxy_protocol = ProxyProtocol::kOff;  // YAML proxy_protocol, -o "proxy_protocol v1|v2"
  // Clients from these networks (a fronting balancer) must open with a PROXY
  // header (v1 or v2), whose client then counts as the client for affinity,
  // the client ACL and the logs. A connection from elsewhere is served as
  // is; a trusted one without a valid header within the connect timeout is
  // closed and counted. Empty: headers are not read. TCP only; set at start.
  std::vector<IpPrefix> accept_proxy_from;  // YAML accept_proxy_protocol, -o "accept_proxy_protocol CIDR..."
  // Share the listen port with other processes' SO_REUSEPORT sockets (a
  // second nib, say), which then take part of the traffic. Off: a port
  // another process listens on is an error at start.
  bool reuse_port = false;              // --reuse-port
  // UDP (-U) only: a session (client address:port -> one upstream socket)
  // silent this long ends; at the limit the least recently used one is evicted.
  double udp_session_timeout_seconds = 60;
  uint64_t udp_max_sessions = 0;        // 0 = as many as descriptors allow
  // Default active check for the backends (each may override); unset = none.
  std::optional<HealthCheckConfig> health_check;
  // A backend that comes up (health, operator, added at runtime) gets a share
  // of new clients ramping from 1/16 to full over this long; 0 = off.
  double slow_start_seconds = 0;
  // A drain's stragglers are closed after this long; 0 = wait for them forever.
  double drain_timeout_seconds = 0;
  // Which clients are served (Pen's client_acl): first match decides; when
  // nothing matches, the opposite of the last entry's action (Pen's rule); an
  // empty list permits all.
  // A denied TCP client is closed right after accept; a UDP one's datagrams
  // are dropped; with an abuse server, either is relayed there instead.
  AccessList client_acl;
  // TLS toward the clients (TCP only; not with dsr_interface). `tls` is what
  // was asked for; `tls_terminator` what the server made of it (null while
  // `tls` is not enabled). A service with one but no terminator is refused.
  TlsConfig tls;
  std::shared_ptr<const TlsTerminator> tls_terminator;
  // TLS toward the backends (TCP only; not with dsr_interface), and the
  // connector the server made of it (null while not enabled). The backend
  // handshake is bounded by connect_timeout, as the connect is.
  BackendTlsConfig backend_tls;
  std::shared_ptr<const TlsConnector> tls_connector;
};

inline constexpr double kMaxSlowStartSeconds = 3600;

// The access log (issue 14): one line per finished connection or UDP session, written by
// one thread from per-worker rings (dataplane/log/access_log.h). Off when
// neither path nor udp is set. Read at start; a reload reopens the
// destination but keeps these settings.
enum class AccessLogFormat : uint8_t {
  kPen,       // Pen's -l lines: what mergelogs (file) and penlogd (UDP) read
  kJson,      // one JSON object per line
  kTemplate,  // `template`, with {field} placeholders
};
const char* to_string(AccessLogFormat format);

struct AccessLogConfig {
  std::string path;  // a file, opened O_APPEND (reopened on SIGHUP/SIGUSR1)
  std::string udp;   // "IP:PORT": one datagram per line, as Pen's -l host:port
  AccessLogFormat format = AccessLogFormat::kPen;
  std::string template_text;  // kTemplate only
  // Records each worker may hold before the writer takes them; past that
  // lines are dropped and counted. Workers never wait for the writer.
  uint32_t ring_size = 1024;
  bool enabled() const { return !path.empty() || !udp.empty(); }
};

// How established TCP connections are relayed (issue 18): kSplice in user
// space (copy, then splice; the default), kSockmap in the kernel by a BPF
// sockmap where allowed (dataplane/kernel/sockmap_relay.h), else as kSplice.
enum class RelayMode { kSplice, kSockmap };
// "splice" or "sockmap"; nullopt for others.
std::optional<RelayMode> parse_relay_mode(std::string_view word);

struct DataplaneConfig {
  std::vector<ServiceConfig> services;
  AccessLogConfig access_log;
  int workers = 0;  // 0 = one per core
  // What the TCP workers' loops wait with (io_uring: batched registration
  // changes; epoll when the kernel refuses it).
  LoopBackend event_loop = LoopBackend::kEpoll;
  RelayMode relay = RelayMode::kSplice;
  // Zero-copy relay: pipes each worker may hold for splice(); 0 = always copy.
  int splice_pipes_per_worker = 64;
  // Tuning and tests; 0 = derived (dataplane/config/limits.h): descriptors
  // the dataplane may hold for clients (from RLIMIT_NOFILE), and bytes all
  // TCP workers' relay buffers may hold (from the memory limit).
  uint64_t fd_budget = 0;
  uint64_t relay_memory_bytes = 0;
  // Answers Pen's "country CC" ACL entries; set by whoever holds a database
  // (the server, a test), never read from a file. Null: such entries are
  // refused. The dataplane keeps the one it started with across reloads.
  std::shared_ptr<CountryLookup> countries;
};

// A Unix socket listen path's rules: absolute, fits sockaddr_un, and not
// with what needs the client's IP or a UDP/IP socket (udp, transparent,
// dsr_interface, defer_accept). OK when the service has no path.
Status check_listen_path(const ServiceConfig& s);

// TLS's rules, toward clients and toward backends: TCP only, no DSR, a
// known floor, no settings for a side that is off (the files are the
// server's: Dataplane::open() refuses a TLS service it was given no
// terminator or connector for).
Status check_tls(const ServiceConfig& s);
// The rules of a TLS service's own settings (a known floor, a handshake
// timeout in range, ALPN names), for a change at runtime too.
Status check_tls_settings(const TlsConfig& t);

// A TLS service has the terminator (and a re-encrypting one the connector)
// its files were loaded into.
Status check_tls_loaded(const ServiceConfig& s);

// Rules that span fields (names unique, listeners distinct, ...). Range checks on
// single fields are the loaders' job, where they can name a line.
Status validate(const DataplaneConfig& config);

}  // namespace nib
