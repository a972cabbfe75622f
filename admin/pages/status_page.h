#pragma once
// The admin plane's modern status page (GET /): one self-contained HTML file
// whose inline script reads the JSON API (/api/v1/stats, /api/v1/services/
// {service}/clients) and redraws every few seconds. No external assets: it
// works on an air-gapped host. The page itself carries no data, so it needs
// no token; when the API answers 401 the page asks for one.
#include <string>

namespace nib {

const std::string& status_page_html();

}  // namespace nib
