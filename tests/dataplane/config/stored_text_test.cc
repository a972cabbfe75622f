// The gate for stored text, and that every way into the dataplane passes it:
// the registry's checks (runtime adds), validate() (configs and reloads) and
// the address parsers (an embedded NUL never passes as the address before it).
#include "dataplane/config/stored_text.h"

#include <gtest/gtest.h>

#include "dataplane/config/limits.h"
#include "dataplane/config/service_config.h"
#include "dataplane/net/ip_prefix.h"
#include "dataplane/registry/backend_registry.h"

namespace nib {
namespace {

using namespace std::string_literals;

const std::string kHostile = "127.0.0.1\0 evil\nservice x"s;

TEST(StoredTextTest, PrintableEscapesWhatATerminalOrAFileWouldMisread) {
  EXPECT_EQ(printable("web-1"), "'web-1'");
  EXPECT_EQ(printable(kHostile), "'127.0.0.1\\x00 evil\\x0aservice x'");
  EXPECT_EQ(printable("a'b\\c\x7f\xc3\xa9"), "'a\\'b\\\\c\\x7f\\xc3\\xa9'");
  EXPECT_EQ(printable(std::string(100, 'a'), 4), "'aaaa'...");
}

TEST(StoredTextTest, CheckTextRefusesEveryControlByteAndOverLongValues) {
  for (int c = 0; c < 0x20; ++c) {
    std::string value = "ab" + std::string(1, static_cast<char>(c));
    Status st = check_text("field \"x\"", value, 10);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c;
    EXPECT_EQ(st.message().rfind("field \"x\": control byte 0x", 0), 0u) << st.message();
    EXPECT_NE(st.message().find(" at offset 2 "), std::string::npos) << st.message();
  }
  EXPECT_FALSE(check_text("x", "a\x7f", 10).ok());
  std::string printable_ascii;
  for (int c = 0x20; c < 0x7f; ++c) printable_ascii += static_cast<char>(c);
  EXPECT_TRUE(check_text("x", printable_ascii, printable_ascii.size()).ok());
  EXPECT_TRUE(check_text("x", "caf\xc3\xa9", 10).ok()) << "UTF-8 text is text";
  EXPECT_EQ(check_text("x", "abcd", 3).message(), "x: at most 3 bytes, got 4 ('abcd')");
}

TEST(StoredTextTest, CheckHostTakesNamesAndLiteralsOnly) {
  for (const char* ok : {"", "127.0.0.1", "::1", "fe80::1%eth0", "backend-1.example.com", "db_2.internal"}) {
    EXPECT_TRUE(check_host("host", ok).ok()) << ok;
  }
  EXPECT_EQ(check_host("field \"address\"", kHostile).message(),
            "field \"address\": expected a host name or IP address, got '127.0.0.1\\x00 evil\\x0aservice x' "
            "(control byte 0x00 at offset 9)");
  EXPECT_EQ(check_host("host", "my host").message(),
            "host: expected a host name or IP address, got 'my host' (a space at offset 2)");
  EXPECT_EQ(check_host("host", "h\xc3\xa9").message(),
            "host: expected a host name or IP address, got 'h\\xc3\\xa9' (non-ASCII byte 0xc3 at offset 1)");
  EXPECT_TRUE(check_host("host", std::string(limits::kHostBytes, 'a')).ok());
  EXPECT_EQ(check_host("host", std::string(limits::kHostBytes + 1, 'a')).message().substr(0, 32),
            "host: at most 253 bytes, got 254");
}

TEST(StoredTextTest, CheckServiceName) {
  EXPECT_TRUE(check_service_name("name", "web_1.eu-west").ok());
  EXPECT_TRUE(check_service_name("name", std::string(limits::kServiceNameBytes, 'a')).ok());
  for (std::string bad : {""s, std::string(limits::kServiceNameBytes + 1, 'a'), "my web"s, "web\n"s, "web\0"s,
                          "w/eb"s}) {
    Status st = check_service_name("name", bad);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(st.message().rfind(std::string("name: expected ") + kServiceNameRule, 0), 0u) << st.message();
  }
}

TEST(StoredTextTest, RuntimeAddsPassTheGate) {
  BackendConfig c;
  c.address = *SocketAddress::parse("127.0.0.1:80");
  c.host = kHostile;
  Status st = BackendRegistry::check(c);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("host: expected a host name or IP address", 0), 0u) << st.message();
  BackendRegistry registry(1);
  EXPECT_FALSE(registry.add(c).ok());
  EXPECT_TRUE(registry.snapshot()->backends.empty()) << "nothing changed";
}

TEST(StoredTextTest, ConfigurationsPassTheGate) {
  auto config = [](std::string name, std::string host, std::string emergency_host = "") {
    ServiceConfig s;
    s.name = std::move(name);
    s.listen = *SocketAddress::parse("127.0.0.1:8080");
    BackendConfig b;
    b.address = *SocketAddress::parse("127.0.0.1:80");
    b.host = std::move(host);
    s.backends = {b};
    if (!emergency_host.empty()) {
      s.emergency = b;
      s.emergency->address.set_port(81);
      s.emergency->host = std::move(emergency_host);
    }
    DataplaneConfig c;
    c.services = {s};
    return c;
  };
  EXPECT_TRUE(validate(config("web", "localhost", "127.0.0.1")).ok());
  EXPECT_EQ(validate(config("web", kHostile)).message(),
            "service 'web': backend 127.0.0.1:80: host: expected a host name or IP address, got "
            "'127.0.0.1\\x00 evil\\x0aservice x' (control byte 0x00 at offset 9)");
  EXPECT_EQ(validate(config("web", "a", "b c")).message().rfind("service 'web': emergency host: expected", 0), 0u);
  EXPECT_EQ(validate(config("my web", "a")).message().rfind("service name: expected a name of 1-64", 0), 0u);
  HealthCheckConfig http;
  http.type = HealthCheckType::kHttp;
  http.path = "/health\r\nX-Evil: 1";
  EXPECT_EQ(check(http).message().rfind("path: control byte 0x0d at offset 7", 0), 0u) << check(http).message();
  http.path = "/" + std::string(limits::kHttpCheckFieldBytes, 'a');
  EXPECT_EQ(check(http).message().rfind("path: at most 1024 bytes", 0), 0u) << check(http).message();
}

TEST(StoredTextTest, AnEmbeddedNulNeverPassesAsTheAddressBeforeIt) {
  EXPECT_FALSE(SocketAddress::from_ip(kHostile, 80).ok());
  EXPECT_FALSE(SocketAddress::from_ip("127.0.0.1\0"s, 80).ok());
  EXPECT_FALSE(SocketAddress::resolve(kHostile, 80).ok());
  EXPECT_FALSE(SocketAddress::resolve("localhost\0.evil"s, 80).ok());
  EXPECT_FALSE(IpKey::parse("10.0.0.1\0x"s).ok());
  EXPECT_FALSE(IpPrefix::parse("10.0.0.0\0/8"s).ok());
  EXPECT_TRUE(SocketAddress::from_ip("127.0.0.1", 80).ok());
}

}  // namespace
}  // namespace nib
