#include "dataplane/log/access_line_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

namespace nib {
namespace {

using ::testing::HasSubstr;

const std::string kService = "web";

AccessRecord sample() {
  AccessRecord r;
  r.unix_ns = 1'796'363'179'123'000'000;  // 2026-12-04T05:46:19.123Z
  r.duration_us = 12'345;
  r.connect_us = 678;
  r.bytes_in = 10;
  r.bytes_out = 2000;
  r.service = &kService;
  r.client = *SocketAddress::parse("10.0.0.9:40000");
  r.backend = *SocketAddress::parse("10.0.1.1:80");
  r.backend_source_port = 51000;
  r.failovers = 1;
  r.reason = CloseReason::kBackendClosed;
  const char* req = "GET /a\"b\\ HTTP/1.1";
  r.request_len = static_cast<uint8_t>(std::strlen(req));
  std::memcpy(r.request, req, r.request_len);
  return r;
}

std::string line(AccessLogFormat format, std::string_view tmpl, const AccessRecord& r, bool udp = false) {
  auto f = AccessLineFormat::make(format, tmpl, udp);
  EXPECT_TRUE(f.ok()) << f.status().message();
  std::string out;
  if (f.ok()) f->append(r, out);
  return out;
}

TEST(AccessLineFormatTest, PenFileLineIsWhatMergelogsReads) {
  EXPECT_EQ(line(AccessLogFormat::kPen, "", sample()), "10.0.0.9 1796363179 10.0.1.1 GET /a\"b\\ HTTP/1.1\n");
}

TEST(AccessLineFormatTest, PenUdpLineIsPenlogdsPlusEntry) {
  EXPECT_EQ(line(AccessLogFormat::kPen, "", sample(), /*udp=*/true), "+ 10.0.0.9 10.0.1.1 GET /a\"b\\ HTTP/1.1\n");
}

TEST(AccessLineFormatTest, PenLineWithoutBackendOrRequestKeepsFourFields) {
  AccessRecord r = sample();
  r.backend = SocketAddress();
  r.request_len = 0;
  EXPECT_EQ(line(AccessLogFormat::kPen, "", r), "10.0.0.9 1796363179 - -\n");
}

TEST(AccessLineFormatTest, JsonHasEveryFieldEscaped) {
  EXPECT_EQ(line(AccessLogFormat::kJson, "", sample()),
            "{\"time\":\"2026-12-04T05:46:19.123Z\",\"service\":\"web\",\"protocol\":\"tcp\","
            "\"client\":\"10.0.0.9:40000\",\"backend\":\"10.0.1.1:80\",\"backend_source_port\":51000,\"bytes_in\":10,\"bytes_out\":2000,"
            "\"duration_ms\":12.345,\"connect_ms\":0.678,\"reason\":\"backend_closed\",\"failovers\":1,"
            "\"request\":\"GET /a\\\"b\\\\ HTTP/1.1\"}\n");
}

TEST(AccessLineFormatTest, JsonNullsWhatNeverHappened) {
  AccessRecord r = sample();
  r.backend = SocketAddress();
  r.backend_source_port = 0;
  r.connect_us = -1;
  std::string out = line(AccessLogFormat::kJson, "", r);
  EXPECT_THAT(out, HasSubstr("\"backend\":null"));
  EXPECT_THAT(out, HasSubstr("\"backend_source_port\":null"));
  EXPECT_THAT(out, HasSubstr("\"connect_ms\":null"));
}

TEST(AccessLineFormatTest, TemplateFillsEveryPlaceholder) {
  EXPECT_EQ(line(AccessLogFormat::kTemplate,
                 "{time} {unix} {service} {client} {client_ip}:{client_port} {backend} {backend_ip}:{backend_port} "
                 "in={bytes_in} out={bytes_out} {duration_ms}ms {connect_ms}ms {reason} {failovers} {protocol} "
                 "\"{request}\" from {backend_source_port}",
                 sample()),
            "2026-12-04T05:46:19.123Z 1796363179 web 10.0.0.9:40000 10.0.0.9:40000 10.0.1.1:80 10.0.1.1:80 "
            "in=10 out=2000 12.345ms 0.678ms backend_closed 1 tcp \"GET /a\"b\\ HTTP/1.1\" from 51000\n");
}

TEST(AccessLineFormatTest, ClientBytesCannotBreakALine) {
  AccessRecord r = sample();
  const char evil[] = "GET /\x1b[31m\tx\x7f";
  r.request_len = sizeof evil - 1;
  std::memcpy(r.request, evil, r.request_len);
  EXPECT_EQ(line(AccessLogFormat::kTemplate, "{request}", r), "GET /.[31m.x.\n");
}

TEST(AccessLineFormatTest, BadTemplatesAreRejectedWithTheReason) {
  auto unknown = AccessLineFormat::make(AccessLogFormat::kTemplate, "{client} {bytes}", false);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown placeholder {bytes}; expected one of time, unix"));
  auto open = AccessLineFormat::make(AccessLogFormat::kTemplate, "{client", false);
  ASSERT_FALSE(open.ok());
  EXPECT_THAT(open.status().message(), HasSubstr("'{' at column 1 is never closed"));
  EXPECT_FALSE(AccessLineFormat::make(AccessLogFormat::kTemplate, "", false).ok());
}

}  // namespace
}  // namespace nib
