#pragma once
// How nibctl shows answers: aligned tables for people, JSON (the proto3 JSON
// mapping of the answer, field names as in the .proto) for scripts.
#include <google/protobuf/message.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "nib/admin/v1/admin.pb.h"

namespace nib::nibctl {

// Columns padded to their widest cell; the first row is the header.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// One answer as JSON in the REST API's shape (admin/http/v1_json.h: the same
// keys, enum words and numbers as /api/v1), pretty; `compact` puts it on one
// line (watch streams).
std::string to_json(const google::protobuf::Message& message, bool compact = false);

// "1.5K", "12.0M": byte counts people can read at a glance.
std::string human_bytes(uint64_t bytes);
// "up", "down", "draining", "draining (done)", "disabled".
std::string state_name(const admin::v1::Backend& backend);
std::string state_name(admin::v1::BackendState state);
std::string mode_name(admin::v1::BalanceMode mode);
std::string event_name(admin::v1::EventType type);

void print_backends(std::ostream& out, const std::vector<const admin::v1::Backend*>& backends);
void print_services(std::ostream& out, const admin::v1::ListServicesResponse& services);
void print_clients(std::ostream& out, const std::vector<admin::v1::Client>& clients);
void print_stats(std::ostream& out, const admin::v1::Stats& stats);
void print_policy(std::ostream& out, const admin::v1::Policy& policy);
void print_pins(std::ostream& out, const admin::v1::ListPinsResponse& pins);
void print_acl(std::ostream& out, const admin::v1::ClientAcl& acl);
void print_tls(std::ostream& out, const admin::v1::TlsSettings& tls);
void print_registry(std::ostream& out, const admin::v1::Registry& registry);
// One line per event: "2026-05-01T12:00:00Z  backend_added  web  backend 3  ...".
void print_event(std::ostream& out, const admin::v1::Event& event);

}  // namespace nib::nibctl
