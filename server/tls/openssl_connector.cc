#include "server/tls/openssl_connector.h"

#include <openssl/x509v3.h>

#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/tls/openssl_handles.h"
#include "server/tls/openssl_loading.h"
#include "server/tls/openssl_session.h"

namespace nib {
namespace tls {

using SessionPtr = std::unique_ptr<SSL_SESSION, Deleter<SSL_SESSION_free>>;

// Client-side resumption: the last session each backend gave nib, so the
// next connection to it skips the full handshake (and the certificate
// check, which the first one passed under the same connector's settings).
// OpenSSL marks a session not resumable when its SSL is freed without
// close_notify sent (shutdown()), so only connections that ended cleanly
// leave a session to resume; recall() skips the others.
// One mutex over the map: it is taken once per handshake and once per
// ticket, never per byte, so contention across worker loops is negligible.
struct OpenSslConnector::State {
  SslCtxPtr ctx;
  bool verify = true;
  std::string server_name;

  // At most this many backends are remembered; the oldest entry goes first.
  static constexpr size_t kMaxSessions = 1024;
  mutable std::mutex mu;
  std::unordered_map<std::string, SessionPtr> sessions;  // guarded by mu; peer IP -> its last session
  std::deque<std::string> order;                         // guarded by mu; the keys, oldest first

  // Takes `session` (a reference OpenSSL handed over) as `peer`'s latest.
  void remember(const std::string& peer, SSL_SESSION* session) {
    std::lock_guard lock(mu);
    auto [it, inserted] = sessions.try_emplace(peer);
    it->second.reset(session);
    if (!inserted) return;
    order.push_back(peer);
    if (order.size() > kMaxSessions) {
      sessions.erase(order.front());
      order.pop_front();
    }
  }

  // A new reference to `peer`'s session, or null.
  SessionPtr recall(const std::string& peer) const {
    std::lock_guard lock(mu);
    auto it = sessions.find(peer);
    if (it == sessions.end() || SSL_SESSION_is_resumable(it->second.get()) != 1) return nullptr;
    SSL_SESSION_up_ref(it->second.get());
    return SessionPtr(it->second.get());
  }
};

namespace {

using State = OpenSslConnector::State;

// OpenSSL's new-session callback (the loop thread, inside a session's
// handshake or read, where TLS 1.3 tickets arrive): 1 keeps the reference.
int keep_session(SSL* ssl, SSL_SESSION* session) {
  const auto* owner = static_cast<const OpenSslSession*>(SSL_get_app_data(ssl));
  auto* state = static_cast<State*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (owner == nullptr || state == nullptr || owner->peer().empty()) return 0;
  state->remember(owner->peer(), session);
  return 1;
}

Result<SslCtxPtr> make_client_context(const BackendTlsConfig& config) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return tls_error("tls: cannot make an SSL context");
  SSL_CTX* c = ctx.get();
  if (Status s = set_min_version(c, config.min_version); !s.ok()) return s;
  // A backend asking to renegotiate is refused, as a client asking nib is.
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // As the terminator's: the relay offers what it has, from a buffer that
  // may move, and idle connections hold no record buffers.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(c, 1);  // as the terminator's: one recv per socket's worth
  if (!config.ciphers.empty() && SSL_CTX_set_cipher_list(c, config.ciphers.c_str()) != 1) {
    return tls_error("tls: the cipher list \"" + config.ciphers + "\" names no cipher OpenSSL knows");
  }
  if (config.verify) {
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (config.ca_file.empty() && config.ca_dir.empty()) {
      if (SSL_CTX_set_default_verify_paths(c) != 1) return tls_error("tls: cannot load the system's default CAs");
    } else if (Status s = load_verify_cas(c, config.ca_file, config.ca_dir); !s.ok()) {
      return s;
    }
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  if (!config.cert_file.empty()) {
    auto id = load_identity(config.cert_file, config.key_file);
    if (!id.ok()) return id.status();
    if (Status s = use_identity(c, *id, config.cert_file); !s.ok()) return s;
  }
  // The sessions go to keep_session only; OpenSSL's own client cache would
  // not know which backend a session came from.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
  SSL_CTX_sess_set_new_cb(c, keep_session);
  ERR_clear_error();
  return ctx;
}

// "[::1]" is ::1.
std::string bare_ip(std::string_view ip) {
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  return std::string(ip);
}

}  // namespace

OpenSslConnector::OpenSslConnector(std::shared_ptr<State> state) : state_(std::move(state)) {}

OpenSslConnector::~OpenSslConnector() = default;

std::unique_ptr<TlsSession> OpenSslConnector::connect(int fd, std::string_view peer_ip, std::string_view alpn) const {
  auto session = OpenSslSession::start(state_->ctx.get(), fd, state_, OpenSslSession::Role::kClient);
  if (!session) return nullptr;
  SSL* ssl = session->ssl();
  const std::string ip = bare_ip(peer_ip);
  session->set_peer(ip);
  SSL_set_app_data(ssl, session.get());  // for keep_session; the session outlives its SSL's callbacks

  bool ok = true;
  if (!state_->server_name.empty()) {
    ok = SSL_set_tlsext_host_name(ssl, state_->server_name.c_str()) == 1;
    if (state_->verify) {
      ok = ok && SSL_set1_host(ssl, state_->server_name.c_str()) == 1;
      session->set_expected_name(state_->server_name);
    }
  } else if (state_->verify) {
    // The backend's address must be in its certificate's IP SANs. Text that
    // is no IP address is checked as a DNS name instead: never no check.
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip.c_str()) != 1) {
      ERR_clear_error();
      ok = SSL_set1_host(ssl, ip.c_str()) == 1;
    }
    session->set_expected_name(ip);
  }
  if (ok && !alpn.empty()) {
    std::string wire(1, static_cast<char>(alpn.size()));
    wire += alpn;
    // SSL_set_alpn_protos returns 0 on success.
    ok = alpn.size() <= 255 &&
         SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                             static_cast<unsigned int>(wire.size())) == 0;
  }
  if (ok) {
    if (SessionPtr last = state_->recall(ip)) ok = SSL_set_session(ssl, last.get()) == 1;
  }
  ERR_clear_error();
  // Each failure above is OpenSSL's allocation failing: no memory, as for SSL_new.
  if (!ok) return nullptr;
  return session;
}

size_t OpenSslConnector::cached_sessions() const {
  std::lock_guard lock(state_->mu);
  return state_->sessions.size();
}

}  // namespace tls

Result<std::shared_ptr<const TlsConnector>> make_tls_connector(const BackendTlsConfig& config) {
  ERR_clear_error();
  if (!config.key_file.empty() && config.cert_file.empty()) {
    return Status::invalid("tls: a client key (" + config.key_file + ") without a client certificate");
  }
  auto ctx = tls::make_client_context(config);
  if (!ctx.ok()) return ctx.status();
  auto state = std::make_shared<tls::OpenSslConnector::State>();
  state->ctx = std::move(*ctx);
  state->verify = config.verify;
  state->server_name = config.server_name;
  // keep_session finds the cache through the SSL_CTX; every session holds
  // the State (connect() hands it over), so the pointer outlives them.
  SSL_CTX_set_app_data(state->ctx.get(), state.get());
  return std::shared_ptr<const TlsConnector>(std::make_shared<tls::OpenSslConnector>(std::move(state)));
}

}  // namespace nib
