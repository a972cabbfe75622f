#include "server/demo_backend.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

namespace nib {
namespace {

// httplib serves a connection on one pool thread until the client closes or
// stays idle this long; stop() waits for those threads, so it bounds stop().
constexpr time_t kKeepAliveSeconds = 1;
// A client may send any number of requests on one connection, as before.
constexpr size_t kKeepAliveRequests = 1'000'000;
// Enough threads that a burst of clients (each holding its connection open)
// is served without waiting for an idle one to time out first.
constexpr size_t kThreads = 32;

}  // namespace

DemoBackend::DemoBackend(std::string name, uint16_t port) : name_(std::move(name)), port_(port) {}

DemoBackend::~DemoBackend() { stop(); }

Status DemoBackend::start() {
  if (running()) return {};
  auto server = std::make_unique<httplib::Server>();
  // SO_REUSEADDR only (httplib's default may add SO_REUSEPORT): a second
  // server must not share the port.
  int listener = -1;
  server->set_socket_options([&listener](int fd) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    listener = fd;
  });
  server->new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  server->set_keep_alive_timeout(kKeepAliveSeconds);
  server->set_keep_alive_max_count(kKeepAliveRequests);
  // httplib writes the head and the body apart: without this each reply on a
  // kept-alive connection waits for the client's delayed ACK (about 40 ms).
  server->set_tcp_nodelay(true);
  int port = port_ == 0 ? server->bind_to_any_port("127.0.0.1")
                        : (server->bind_to_port("127.0.0.1", port_) ? port_ : -1);
  if (port < 0) {
    return Status::unavailable("demo backend " + name_ + ": bind 127.0.0.1:" + std::to_string(port_) + ": " +
                               std::strerror(errno));
  }
  port_ = static_cast<uint16_t>(port);
  // httplib 0.11 listens with a backlog of 5, which a burst of clients
  // overflows (their connections stall in SYN retries); listen() again raises it.
  if (listener >= 0) ::listen(listener, SOMAXCONN);
  const std::string body = "hello from nib demo backend " + name_ + " (127.0.0.1:" + std::to_string(port_) + ")\n";
  auto answer = [this, body](const httplib::Request& request, httplib::Response& response) {
    requests_.fetch_add(1, std::memory_order_relaxed);
    // HTTP/1.0 closes unless the client asks to keep the connection; say so
    // when it did (httplib writes only its Keep-Alive parameters).
    if (request.version == "HTTP/1.0" && request.get_header_value("Connection") == "Keep-Alive") {
      response.set_header("Connection", "keep-alive");
    }
    response.set_content(body, "text/plain");
  };
  // Every method gets the same line (HEAD: its head only, which httplib does).
  server->Get(".*", answer);
  server->Post(".*", answer);
  server->Put(".*", answer);
  server->Patch(".*", answer);
  server->Delete(".*", answer);
  server->Options(".*", answer);
  server_ = std::move(server);
  auto ended = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([server = server_.get(), ended] {
    server->listen_after_bind();
    ended->store(true);
  });
  // stop() does nothing until the server runs (httplib 0.11 has no
  // wait_until_ready()): return only once it does, or has given up.
  while (!server_->is_running() && !ended->load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!server_->is_running()) {
    stop();
    return Status::internal("demo backend " + name_ + ": the server did not start");
  }
  return {};
}

void DemoBackend::stop() {
  if (!running()) return;
  server_->stop();
  thread_.join();
  server_.reset();
}

}  // namespace nib
