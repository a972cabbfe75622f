// The status pages built from the files of admin/pages/, embedded at build
// time (admin/pages/page_files.h).
#include "admin/pages/status_page.h"

#include <gtest/gtest.h>

#include "admin/pages/page_files.h"
#include "admin/pages/pen_status_page.h"

namespace nib {
namespace {

TEST(StatusPageTest, IsTheHtmlFileWithItsStyleAndScriptFilesInline) {
  const std::string& page = status_page_html();
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>\n")) << page.substr(0, 100);
  EXPECT_TRUE(page.ends_with("</html>\n"));
  EXPECT_EQ(page.find("@include"), std::string::npos);
  EXPECT_NE(page.find("<style>\n" + std::string(pages::status_page_css) + "</style>\n"), std::string::npos);
  EXPECT_NE(page.find("<script>\n" + std::string(pages::status_page_js) + "</script>\n"), std::string::npos);
  EXPECT_EQ(page.size(), pages::status_page_html.size() - std::string_view("@include status_page.css\n").size() -
                             std::string_view("@include status_page.js\n").size() + pages::status_page_css.size() +
                             pages::status_page_js.size());
  // The script puts API text in with textContent, never as HTML.
  EXPECT_EQ(page.find("innerHTML"), std::string::npos);
  EXPECT_EQ(&page, &status_page_html());  // assembled once
}

TEST(StatusPageTest, PenPageCarriesItsStyleFile) {
  PenStatusInput in;
  in.generated_at = "2024-01-01 00:00:00 UTC";
  std::string page = render_pen_status_page(in);
  std::string css(pages::pen_status_page_css);
  if (css.ends_with('\n')) css.pop_back();
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>nib status</title>\n"
                               "<style>" + css + "</style>\n</head><body>\n<h1>nib status</h1>\n"
                               "<p>Generated 2024-01-01 00:00:00 UTC</p>\n"))
      << page;
  EXPECT_NE(css.find("border-collapse"), std::string::npos);
}

// Pen's page lists the emergency and abuse servers after the regular ones.
TEST(StatusPageTest, PenPageShowsTheEmergencyAndAbuseServers) {
  PenStatusInput in;
  ServiceStatus s;
  s.name = "web";
  s.listen = *SocketAddress::parse("127.0.0.1:80");
  BackendStatus b;
  b.host = "10.0.0.1";
  b.address = *SocketAddress::parse("10.0.0.1:80");
  b.index = 0;
  s.backends.push_back(b);
  b.host = "10.0.0.8";
  b.address = *SocketAddress::parse("10.0.0.8:8080");
  b.index = -1;
  s.abuse = b;
  b.host = "10.0.0.9";
  b.address = *SocketAddress::parse("10.0.0.9:80");
  s.emergency = b;
  in.services = {s};
  in.clients = {{}};
  std::string page = render_pen_status_page(in);
  size_t regular = page.find("<td>0</td><td>10.0.0.1</td>");
  size_t emergency = page.find("<td>emergency</td><td>10.0.0.9</td>");
  size_t abuse = page.find("<td>abuse</td><td>10.0.0.8</td>");
  ASSERT_NE(abuse, std::string::npos) << page;
  EXPECT_LT(regular, emergency) << page;
  EXPECT_LT(emergency, abuse) << page;
  EXPECT_NE(page.find("<td>8080</td>", abuse), std::string::npos) << page;
}

}  // namespace
}  // namespace nib
