#pragma once
// The files of admin/pages/ (HTML, CSS, JavaScript), embedded in the binary at
// build time by cmake/embed_files.cmake: edit the files, not C++ strings. The
// program never reads them at run time. Names: the file name with '.' -> '_'.
#include <string_view>

namespace nib::pages {

extern const std::string_view status_page_html;  // with "@include FILE" lines for the two below
extern const std::string_view status_page_css;
extern const std::string_view status_page_js;
extern const std::string_view pen_status_page_css;

}  // namespace nib::pages
