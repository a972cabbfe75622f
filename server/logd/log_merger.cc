#include "server/logd/log_merger.h"

#include <algorithm>

namespace nib {

Status LogMerger::add_nib_log(std::istream& in, const std::string& name) {
  std::string line;
  for (uint64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    auto c = parse_nib_line(line);
    if (!c.ok()) return Status::invalid(name + ":" + std::to_string(n) + ": " + c.status().message());
    if (c->has_value()) index_.add(std::move(**c));
  }
  if (in.bad()) return Status::invalid(name + ": read failed");
  return Status();
}

Status LogMerger::add_server_log(const SocketAddress& backend, std::istream& in, const std::string& name) {
  std::string line;
  int64_t last_ms = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Pending p;
    p.order = lines_.size();
    p.backend = backend;
    p.parsed = parse_server_line(line);
    if (p.parsed && p.parsed->unix_ms) last_ms = *p.parsed->unix_ms;
    p.unix_ms = last_ms;
    p.text = std::move(line);
    lines_.push_back(std::move(p));
  }
  if (in.bad()) return Status::invalid(name + ": read failed");
  return Status();
}

MergeReport LogMerger::merge(std::ostream& out) {
  std::stable_sort(lines_.begin(), lines_.end(), [](const Pending& a, const Pending& b) {
    return a.unix_ms != b.unix_ms ? a.unix_ms < b.unix_ms : a.order < b.order;
  });
  MergeReport report;
  for (const Pending& p : lines_) {
    ++report.lines;
    auto match = p.parsed ? index_.match(p.backend, *p.parsed) : std::nullopt;
    if (!match) {
      ++report.unmatched;
      out << p.text << '\n';
      continue;
    }
    ++(match->by == ConnectionIndex::MatchedBy::kPort ? report.by_port : report.by_request);
    out << ConnectionIndex::with_client(p.text, *p.parsed, *match->connection) << '\n';
  }
  return report;
}

}  // namespace nib
