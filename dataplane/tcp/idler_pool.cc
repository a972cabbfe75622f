#include "dataplane/tcp/idler_pool.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "dataplane/base/log.h"
#include "dataplane/net/proxy_protocol.h"
#include "dataplane/net/socket_ops.h"

namespace nib {
namespace {

// A server that takes idlers: one that takes new clients, its soft limit
// aside (idlers are not clients, see the header).
bool takes_idlers(const Backend& b, MonoTime now) {
  return b.admin_state() == AdminState::kEnabled && b.health_up() && !b.blacklisted(now);
}

bool listed(const RegistrySnapshot& snap, const Backend& b) {
  return std::any_of(snap.backends.begin(), snap.backends.end(), [&](const auto& x) { return x.get() == &b; });
}

}  // namespace

// One service's idlers, on the loop thread.
struct IdlerPool::Slot {
  Service* service = nullptr;
  uint32_t wanted = 0;
  uint32_t cursor = 0;  // Pen's round-robin over the servers, for idlers alone
  std::vector<std::unique_ptr<Idler>> idlers;
  void publish_open() const;
};

// One idle connection: waiting (to open, or to retry), connecting, or open.
class IdlerPool::Idler final : public EventHandler {
 public:
  Idler(IdlerPool& pool, Slot& slot) : pool_(pool), slot_(slot), timer_([this] { on_timer(); }) {}
  ~Idler() override { close(/*publish=*/false); }  // its slot publishes

  bool open() const { return state_ == State::kOpen; }
  // Loop thread. Opens it at `when` (now: at once).
  void schedule(MonoTime when) { pool_.loop_.arm(timer_, when); }
  // Loop thread. Still on a server that takes idlers (a waiting one: yes).
  bool placed_well(const RegistrySnapshot& snap, MonoTime now) const {
    return state_ == State::kWaiting || (listed(snap, *backend_) && takes_idlers(*backend_, now));
  }
  // Loop thread. Closes it and opens it again at once (on another server).
  void replace() {
    close();
    schedule(pool_.loop_.now());
  }

  void on_event(uint32_t events) override {
    if (state_ == State::kConnecting) return on_connect_result();
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) drain_input();
  }

 private:
  enum class State : uint8_t { kWaiting, kConnecting, kOpen };

  void on_timer() {
    if (state_ == State::kConnecting) return retry_later();  // the connect timed out
    if (state_ == State::kWaiting) connect_next();
  }

  void connect_next() {
    MonoTime now = pool_.loop_.now();
    auto snap = slot_.service->registry().snapshot();
    backend_ = pick(*snap, now);
    if (!backend_) return schedule(now + kTick);  // no server takes idlers now
    if (pool_.budget_ && !pool_.budget_->try_acquire(1)) return shortage(Resource::kFd, now);
    holds_budget_ = true;
    const SocketAddress& to = backend_->address();
    auto fd = make_tcp_socket(to.family());
    if (!fd.ok()) return failed_locally(errno, now);
    fd_ = std::move(*fd);
    if (const SocketAddress* source = slot_.service->source_for(to); source && !bind_source(fd_.get(), *source)) {
      return failed_locally(errno, now);
    }
    if (::connect(fd_.get(), to.sockaddr_ptr(), to.length()) != 0 && errno != EINPROGRESS) {
      return failed_locally(errno, now, /*connecting=*/true);
    }
    if (!pool_.loop_.add(fd_.get(), EPOLLOUT, this).ok()) return failed_locally(ENOMEM, now);
    state_ = State::kConnecting;
    pool_.loop_.arm(timer_, now + snap->connect_timeout);
  }

  // Pen's server_by_roundrobin(), then its failover: the first server from
  // the cursor on that takes idlers.
  std::shared_ptr<Backend> pick(const RegistrySnapshot& snap, MonoTime now) {
    const size_t n = snap.backends.size();
    for (size_t i = 0; i < n; ++i) {
      const auto& b = snap.backends[slot_.cursor++ % n];
      if (takes_idlers(*b, now)) return b;
    }
    return nullptr;
  }

  void on_connect_result() {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return retry_later();
    // A backend that wants a PROXY header gets its LOCAL form, as a health
    // check's: there is no client to name.
    char header[kProxyHeaderMax];
    size_t n = write_proxy_local_header(backend_->proxy_protocol_or(slot_.service->proxy_protocol()), header);
    if (n > 0 && ::send(fd_.get(), header, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) return retry_later();
    pool_.loop_.cancel(timer_);
    if (!pool_.loop_.modify(fd_.get(), EPOLLIN | EPOLLRDHUP, this).ok()) return retry_later();
    state_ = State::kOpen;
    opened_at_ = pool_.loop_.now();
    slot_.publish_open();
  }

  // Reads what the backend sent and drops it; on its close, makes it again.
  void drain_input() {
    char buf[4096];
    for (int i = 0; i < 16; ++i) {  // bounded: a chatty backend shares the loop
      ssize_t r = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (r > 0) continue;
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
      return closed_by_backend();  // EOF or reset
    }
  }

  void closed_by_backend() {
    if (pool_.loop_.now() - opened_at_ >= kStable) {
      retry_ = kRetryMin;
      return replace();
    }
    retry_later();
  }

  void retry_later() {
    close();
    schedule(pool_.loop_.now() + retry_);
    retry_ = std::min<Duration>(retry_ * 2, kRetryMax);
  }

  // A call failed before the connect was under way: nib's own shortage is
  // retried each tick; anything else (no route, refused at once) backs off.
  void failed_locally(int err, MonoTime now, bool connecting = false) {
    if (auto r = shortage_of(err, connecting)) return shortage(*r, now);
    retry_later();
  }

  void shortage(Resource r, MonoTime now) {
    close();
    if (pool_.shortages_.record(r)) {
      log_warn(std::string("idlers: no ") + to_string(r) + " for an idle connection; retried every second, counted "
               "in nib_resource_exhausted_total, logged once per burst");
    }
    schedule(now + kTick);
  }

  void close(bool publish = true) {
    if (fd_) {
      pool_.loop_.remove(fd_.get());
      fd_.reset();
    }
    if (holds_budget_) pool_.budget_->release(1);
    holds_budget_ = false;
    pool_.loop_.cancel(timer_);
    const bool was_open = state_ == State::kOpen;
    state_ = State::kWaiting;
    backend_.reset();
    if (was_open && publish) slot_.publish_open();
  }

  IdlerPool& pool_;
  Slot& slot_;
  Timer timer_;
  UniqueFd fd_;
  std::shared_ptr<Backend> backend_;
  State state_ = State::kWaiting;
  bool holds_budget_ = false;
  MonoTime opened_at_{};
  Duration retry_ = kRetryMin;
};

void IdlerPool::Slot::publish_open() const {
  auto n = std::count_if(idlers.begin(), idlers.end(), [](const auto& i) { return i->open(); });
  service->set_idlers_open(static_cast<uint32_t>(n));
}

IdlerPool::IdlerPool(FdBudget* budget, Clock& clock) : budget_(budget), loop_(clock), tick_([this] { maintain(); }) {}

IdlerPool::~IdlerPool() { stop(); }

Status IdlerPool::start() {
  if (Status st = loop_.init(); !st.ok()) return st;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "nib-idlers");
    loop_.arm(tick_, loop_.clock().now() + kTick);
    loop_.run();
    // Closed on the loop thread, which owns them (and their timers).
    for (auto& s : slots_) s->service->set_idlers_open(0);
    slots_.clear();
    loop_.cancel(tick_);
  });
  started_ = true;
  return {};
}

void IdlerPool::stop() {
  if (!started_) return;
  started_ = false;
  loop_.stop();
  thread_.join();
}

void IdlerPool::set_targets(std::vector<Target> targets) {
  loop_.post([this, targets = std::move(targets)] { apply_targets(targets); });
}

void IdlerPool::apply_targets(const std::vector<Target>& targets) {
  // Services no longer listed lose their idlers.
  std::erase_if(slots_, [&](const std::unique_ptr<Slot>& s) {
    bool kept = std::any_of(targets.begin(), targets.end(), [&](const Target& t) { return t.service == s->service; });
    if (!kept) {
      s->idlers.clear();
      s->service->set_idlers_open(0);
    }
    return !kept;
  });
  for (const Target& t : targets) {
    auto it = std::find_if(slots_.begin(), slots_.end(), [&](const auto& s) { return s->service == t.service; });
    if (it == slots_.end()) {
      slots_.push_back(std::make_unique<Slot>());
      slots_.back()->service = t.service;
      it = slots_.end() - 1;
    }
    Slot& slot = **it;
    slot.wanted = t.wanted;
    // Fewer: the last ones go (waiting ones first, so open idlers stay).
    std::stable_partition(slot.idlers.begin(), slot.idlers.end(), [](const auto& i) { return i->open(); });
    if (slot.idlers.size() > slot.wanted) slot.idlers.resize(slot.wanted);
    while (slot.idlers.size() < slot.wanted) {
      slot.idlers.push_back(std::make_unique<Idler>(*this, slot));
      slot.idlers.back()->schedule(loop_.now());
    }
    slot.publish_open();
  }
  maintain();
}

void IdlerPool::maintain() {
  MonoTime now = loop_.now();
  for (auto& s : slots_) {
    auto snap = s->service->registry().snapshot();
    for (auto& i : s->idlers) {
      if (!i->placed_well(*snap, now)) i->replace();
    }
  }
  loop_.arm(tick_, now + kTick);
}

}  // namespace nib
