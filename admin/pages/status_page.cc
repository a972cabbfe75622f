#include "admin/pages/status_page.h"

#include <string_view>

#include "admin/pages/page_files.h"

namespace nib {
namespace {

// The page is status_page.html with its "@include FILE" lines replaced by the
// embedded files (pages/page_files.h), so each of HTML, CSS and JavaScript is
// edited as itself. Text from the API goes into the page with textContent
// only, never as HTML: host names and event details come from operators and
// clients.
std::string assemble() {
  std::string page(pages::status_page_html);
  for (auto [line, file] : {std::pair{std::string_view("@include status_page.css\n"), pages::status_page_css},
                            std::pair{std::string_view("@include status_page.js\n"), pages::status_page_js}}) {
    size_t at = page.find(line);
    if (at != std::string::npos) page.replace(at, line.size(), file);
  }
  return page;
}

}  // namespace

const std::string& status_page_html() {
  static const std::string page = assemble();
  return page;
}

}  // namespace nib
