// The one file of nib_admin_http that includes httplib.h (heavy to compile).
#include "admin/http/http_admin_server.h"

#include <httplib.h>

#include <cerrno>
#include <charconv>
#include <sys/socket.h>

#include <cstring>
#include <thread>

#include "admin/common/admin_auth.h"
#include "admin/http/event_stream.h"
#include "admin/http/rest_api.h"
#include "admin/metrics/metrics_collector.h"
#include "dataplane/base/log.h"
#include "dataplane/dataplane.h"

namespace nib::admin {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(5);
// Idle keep-alive connections hold a pool thread and delay stop() by up to
// this long; scrapers and the status page reconnect cheaply.
constexpr time_t kKeepAliveSeconds = 2;
constexpr time_t kIoTimeoutSeconds = 5;
constexpr auto kStreamsEndTimeout = std::chrono::seconds(2);

AdminRequest to_admin_request(const httplib::Request& req, const std::string& body) {
  AdminRequest r;
  r.method = req.method;
  r.target = req.target;
  r.content_type = req.get_header_value("Content-Type");
  r.authorization = req.get_header_value("Authorization");
  r.body = body;
  return r;
}

void apply(const AdminResponse& r, httplib::Response& res) {
  res.status = r.status;
  for (const auto& [name, value] : r.headers) res.set_header(name, value);
  if (!r.content_type.empty()) res.set_content(r.body, r.content_type);
}

}  // namespace

Result<SocketAddress> parse_admin_listen(std::string_view text) {
  auto fail = [&] {
    return Status::invalid("expected host:port with a port 0-65535 (IPv6 as [::1]:9901), got '" + std::string(text) +
                           "'");
  };
  HostPort hp;
  if (!split_host_port(text, &hp) || hp.host.empty()) return fail();
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(hp.port.data(), hp.port.data() + hp.port.size(), port);
  if (ec != std::errc() || end != hp.port.data() + hp.port.size() || port > 65535) return fail();
  auto address = SocketAddress::resolve(hp.host, static_cast<uint16_t>(port));
  if (!address.ok()) return Status::invalid(address.status().message());
  return *address;
}

bool is_loopback(const SocketAddress& address) {
  IpKey k = address.ip_key();
  if (k.is_v4()) return k.bytes[12] == 127;
  IpKey one{};
  one.bytes[15] = 1;
  return k == one;
}

struct HttpAdminServer::Impl {
  Impl(Dataplane& dp, HttpAdminOptions opts)
      : dataplane(dp),
        options(std::move(opts)),
        metrics(dp),
        streams(dp.events(), options.event_queue, options.max_event_streams) {}

  Status load_auth();
  Status create_server();
  void configure();
  Status bind();
  void serve(const httplib::Request& req, httplib::Response& res, const std::string& body);
  void serve_with_body(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void stream_events(const std::shared_ptr<EventStream>& stream, httplib::Response& res);

  Dataplane& dataplane;
  HttpAdminOptions options;
  AdminAuth auth;
  MetricsCollector metrics;
  EventStreams streams;
  std::unique_ptr<RestApi> api;
  SocketAddress bound;
  // After everything its pool threads use, so it is destroyed before them.
  std::unique_ptr<httplib::Server> server;  // an SSLServer with TLS
  std::thread thread;
  bool started = false;
};

Status HttpAdminServer::Impl::load_auth() {
  if (options.token_file.empty()) {
    if (!is_loopback(bound)) {
      log_warn("WARNING: the admin HTTP plane on " + bound.to_string() +
               " is reachable from other hosts and has NO authentication: anyone who can connect can add, "
               "drain and remove backends. Give it tokens with --admin-token-file FILE (admin.token_file in "
               "YAML) or bind it to 127.0.0.1.");
    }
    return {};
  }
  auto loaded = AdminAuth::load_file(options.token_file);
  if (!loaded.ok()) return loaded.status();
  auth = std::move(*loaded);
  return {};
}

Status HttpAdminServer::Impl::create_server() {
  if (!options.tls.enabled()) {
    server = std::make_unique<httplib::Server>();
    return {};
  }
  // Checked here so a bad file is reported by name; httplib only says "invalid".
  if (auto material = load_tls(options.tls); !material.ok()) return material.status();
  auto tls = std::make_unique<httplib::SSLServer>(options.tls.cert_file.c_str(), options.tls.key_file.c_str());
  if (!tls->is_valid()) return Status::invalid("admin TLS: the HTTP server could not use " + options.tls.cert_file);
  server = std::move(tls);
  return {};
}

void HttpAdminServer::Impl::configure() {
  api = std::make_unique<RestApi>(dataplane, auth, metrics, &streams,
                                  RestApiOptions{.max_body_bytes = options.max_body_bytes});
  size_t threads = options.threads;
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->set_payload_max_length(options.max_body_bytes);
  server->set_keep_alive_timeout(kKeepAliveSeconds);
  server->set_read_timeout(kIoTimeoutSeconds, 0);
  server->set_write_timeout(kIoTimeoutSeconds, 0);
  // httplib's default also sets SO_REUSEPORT, which would let a second nib
  // share (and silently split) the admin port instead of failing to start.
  server->set_socket_options([](int fd) {
    int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { serve(req, res, req.body); };
  // Methods that may carry a body read it here: httplib would otherwise wait
  // for EOF on a POST without Content-Length (curl -X POST sends none), where
  // HTTP says the body is empty.
  auto reading_handler = [this](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) { serve_with_body(req, res, reader); };
  // One catch-all per method: RestApi routes, so 404/405, auth and request
  // counting are decided in one place.
  const std::string any = R"([\s\S]*)";
  server->Get(any, handler);
  server->Post(any, reading_handler);
  server->Put(any, reading_handler);
  server->Patch(any, reading_handler);
  server->Delete(any, reading_handler);  // with a Content-Length
  server->Delete(any, handler);          // without
  server->Options(any, handler);
  // httplib's own errors (413 for a body over the limit, 400 for a malformed
  // request) get the JSON error body too. Our responses already have one.
  server->set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
        apply(api->transport_error(to_admin_request(req, ""), res.status), res);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server->set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_error("admin HTTP " + req.method + " " + req.path + ": " + what);
    apply(api->transport_error(to_admin_request(req, ""), 500), res);
  });
}

Status HttpAdminServer::Impl::bind() {
  const std::string host = bound.ip_string();
  errno = 0;
  bool ok = false;
  if (bound.port() == 0) {
    int port = server->bind_to_any_port(host);
    ok = port > 0;
    if (ok) bound.set_port(static_cast<uint16_t>(port));
  } else {
    ok = server->bind_to_port(host, bound.port());
  }
  if (!ok) {
    int err = errno;
    return Status::unavailable("admin HTTP: cannot listen on " + bound.to_string() +
                               (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }
  return {};
}

void HttpAdminServer::Impl::serve_with_body(const httplib::Request& req, httplib::Response& res,
                                            const httplib::ContentReader& reader) {
  std::string body;
  const std::string length = req.get_header_value("Content-Length");
  bool has_body = (!length.empty() && length != "0") || req.get_header_value("Transfer-Encoding").find("chunked") !=
                                                            std::string::npos;
  if (has_body) {
    bool too_large = false;
    bool read = reader([&](const char* data, size_t n) {
      if (body.size() + n > options.max_body_bytes) {  // chunked bodies have no length to check up front
        too_large = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (!read) {
      int status = too_large || res.status == 413 ? 413 : 400;
      res.set_header("Connection", "close");  // the rest of the body is still in the socket
      apply(api->transport_error(to_admin_request(req, ""), status), res);
      return;
    }
  }
  serve(req, res, body);
}

void HttpAdminServer::Impl::serve(const httplib::Request& req, httplib::Response& res, const std::string& body) {
  AdminResponse r = api->handle(to_admin_request(req, body));
  if (r.events) {
    res.status = 200;
    for (const auto& [name, value] : r.headers) res.set_header(name, value);
    stream_events(r.events, res);
    return;
  }
  apply(r, res);
}

void HttpAdminServer::Impl::stream_events(const std::shared_ptr<EventStream>& stream, httplib::Response& res) {
  auto greeted = std::make_shared<bool>(false);
  Duration heartbeat = options.event_heartbeat;
  EventStreams* all = &streams;
  res.set_chunked_content_provider(
      "text/event-stream",
      [stream, greeted, heartbeat](size_t, httplib::DataSink& sink) {
        std::string chunk;
        if (!*greeted) {
          // At once, so the client knows it is subscribed before any event.
          *greeted = true;
          chunk = "retry: 3000\n: nib events\n\n";
        } else {
          chunk = stream->next_chunk(heartbeat);
          if (stream->closed()) {  // the server is stopping: end the response cleanly
            sink.done();
            return true;
          }
          if (chunk.empty()) chunk = ": keepalive\n\n";
        }
        // A failed write means the client went away: httplib ends the stream.
        return sink.write(chunk.data(), chunk.size());
      },
      [stream, all](bool) { all->release(stream); });
}

HttpAdminServer::HttpAdminServer(Dataplane& dataplane, HttpAdminOptions options)
    : impl_(std::make_unique<Impl>(dataplane, std::move(options))) {}

HttpAdminServer::~HttpAdminServer() { stop(); }

Status HttpAdminServer::start() {
  Impl& m = *impl_;
  auto listen = parse_admin_listen(m.options.listen);
  if (!listen.ok()) return Status::invalid("admin HTTP listen address: " + listen.status().message());
  m.bound = *listen;
  if (Status st = m.load_auth(); !st.ok()) return st;
  if (Status st = m.create_server(); !st.ok()) return st;
  m.configure();
  if (Status st = m.bind(); !st.ok()) return st;
  m.thread = std::thread([&m] { m.server->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs; wait for it so a quick
  // stop() cannot leave the thread behind.
  auto deadline = MonoClock::now() + kStartTimeout;
  while (!m.server->is_running() && MonoClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  m.started = true;
  log_info("admin HTTP on " + std::string(m.options.tls.enabled() ? "https://" : "http://") + m.bound.to_string() + "/ (" +
           (m.auth.enabled() ? std::to_string(m.auth.token_count()) + " token(s) from " + m.options.token_file
                             : std::string("no authentication")) +
           ")");
  return {};
}

void HttpAdminServer::stop() {
  Impl& m = *impl_;
  if (!m.started) return;
  m.started = false;
  // Streams first, and let them finish their responses: once the server is
  // stopping, httplib drops a chunked response without its last chunk.
  m.streams.close_all();
  m.streams.wait_released(kStreamsEndTimeout);
  m.server->stop();
  if (m.thread.joinable()) m.thread.join();
}

SocketAddress HttpAdminServer::bound_address() const { return impl_->bound; }

void HttpAdminServer::set_shutting_down() {
  if (impl_->api) impl_->api->set_shutting_down();
}

MetricsCollector& HttpAdminServer::metrics() { return impl_->metrics; }

}  // namespace nib::admin
