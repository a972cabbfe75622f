#pragma once
// Pen's HTML status page: a servers table, an active clients table and an
// active connections table. The -w file and the admin plane's /stats.html are
// both rendered here.
#include <string>
#include <vector>

#include "dataplane/affinity/affinity_table.h"
#include "dataplane/status_views.h"

namespace nib {

struct PenStatusInput {
  std::vector<ServiceStatus> services;
  // Clients of each service, in the same order as `services`.
  std::vector<std::vector<AffinityEntry>> clients;
  std::vector<ConnectionInfo> connections;
  MonoTime now{};
  std::string generated_at;  // wall-clock text for the header
};

std::string render_pen_status_page(const PenStatusInput& input);

// Escapes &, <, >, " and ' for HTML text and attributes.
std::string html_escape(const std::string& text);

}  // namespace nib
