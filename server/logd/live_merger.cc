#include "server/logd/live_merger.h"

#include <chrono>
#include <utility>

namespace nib {
namespace {

// A datagram's source as a backend: any port of that address. A v4 client of
// a dual-stack socket arrives as ::ffff:a.b.c.d, nib names it a.b.c.d.
SocketAddress backend_of(const SocketAddress& source) {
  std::string ip = source.ip_string();
  if (ip.starts_with("::ffff:") && ip.find('.') != std::string::npos) ip = ip.substr(7);
  return SocketAddress::from_ip(ip, 0).value_or(source);
}

}  // namespace

LiveMerger::LiveMerger(const Options& options, const Clock& clock, Sink write, Sink warn)
    : clock_(clock),
      // Web servers log whole seconds: a line's connection may close up to a
      // second after the window says.
      hold_(std::chrono::milliseconds(options.window_ms + 1000)),
      max_held_(options.max_held == 0 ? 1 : options.max_held),
      index_(options.window_ms, options.cache),
      write_(std::move(write)),
      warn_(std::move(warn)) {}

void LiveMerger::receive(std::string_view datagram, const SocketAddress& source) {
  const SocketAddress backend = backend_of(source);
  while (!datagram.empty()) {
    size_t nl = datagram.find('\n');
    std::string_view line = datagram.substr(0, nl);
    datagram = nl == std::string_view::npos ? std::string_view() : datagram.substr(nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) continue;
    auto nib = parse_nib_line(line);
    if (nib.ok()) {
      ++report_.nib_lines;
      if (nib->has_value()) {
        SocketAddress to = (*nib)->backend;
        index_.add(std::move(**nib));
        retry_held(to);
      }
    } else if (looks_like_nib_line(line)) {
      if (report_.bad_nib_lines++ % kWarnEvery == 0) {
        warn_("nib-logd: a line like nib's that does not parse (" + nib.status().message() + "), dropped; " +
              std::to_string(report_.bad_nib_lines) + " so far");
      }
    } else {
      on_server_line(line, backend);
    }
  }
}

void LiveMerger::on_server_line(std::string_view line, const SocketAddress& backend) {
  ++report_.server_lines;
  auto parsed = parse_server_line(line);
  if (!parsed || !parsed->unix_ms) {
    write_unmatched(line);  // nothing to match it by: no use waiting
    return;
  }
  if (write_if_matched(backend, *parsed, line)) return;
  if (held_.size() >= max_held_) {
    write_unmatched(held_.front().text);
    held_.pop_front();
  }
  held_.push_back(Held{clock_.now() + hold_, backend, std::move(*parsed), std::string(line)});
}

bool LiveMerger::write_if_matched(const SocketAddress& backend, const ServerLine& parsed, std::string_view text) {
  auto match = index_.match(backend, parsed);
  if (!match) return false;
  ++(match->by == ConnectionIndex::MatchedBy::kPort ? report_.by_port : report_.by_request);
  write_(ConnectionIndex::with_client(text, parsed, *match->connection));
  return true;
}

void LiveMerger::retry_held(const SocketAddress& backend) {
  const std::string ip = backend.ip_string();
  for (auto it = held_.begin(); it != held_.end();) {
    // Only lines from that backend can match the new connection; the others
    // were tried already against everything else.
    if (it->backend.ip_string() == ip && write_if_matched(it->backend, it->parsed, it->text)) {
      ++report_.late;
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
}

std::optional<Duration> LiveMerger::expire() {
  const MonoTime now = clock_.now();
  while (!held_.empty() && held_.front().until <= now) {
    write_unmatched(held_.front().text);
    held_.pop_front();
  }
  if (held_.empty()) return std::nullopt;
  return held_.front().until - now;
}

void LiveMerger::flush() {
  for (const Held& h : held_) write_unmatched(h.text);
  held_.clear();
}

void LiveMerger::write_unmatched(std::string_view text) {
  ++report_.unmatched;
  write_(text);
}

}  // namespace nib
