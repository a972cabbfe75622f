// The admin core on its own: what every front end gets from it (one wording
// for every refusal, the service resolution, the DNS policy, the durable
// commit), without a transport in the way.
#include "admin/core/admin_api.h"

#include <gtest/gtest.h>

#include "admin/state/state_writer.h"
#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"

namespace nib::admin {
namespace {

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dp_ = std::make_unique<Dataplane>(nib::test::one_backend_config(backend_.address()));
    ASSERT_TRUE(dp_->start().ok());
    api_ = std::make_unique<AdminApi>(*dp_);
  }
  void TearDown() override {
    api_.reset();
    dp_->stop();
  }

  uint32_t first_id() { return dp_->service("web")->backends[0].id; }

  test::TestBackend backend_{"b0"};
  std::unique_ptr<Dataplane> dp_;
  std::unique_ptr<AdminApi> api_;
};

TEST_F(AdminApiTest, RangesComeFromTheLimitsTableInOneWording) {
  v1::UpdateBackendRequest r;
  r.set_id(first_id());
  r.set_weight(10'001);
  auto refused = api_->update_backend(r);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(), "field \"weight\": expected an integer 0-10000, got 10001");
  EXPECT_EQ(dp_->service("web")->backends[0].weight, 1u) << "a refused call changes nothing";

  v1::SetPolicyRequest p;
  p.set_table_size(0);
  EXPECT_EQ(api_->set_policy(p).status().message(), "field \"table_size\": expected an integer 1-100000000, got 0");
  p.clear_table_size();
  p.set_blacklist_seconds(-1);
  EXPECT_EQ(api_->set_policy(p).status().message(), "field \"blacklist_seconds\": expected seconds >= 0, got -1");
  v1::GetBackendRequest g;
  EXPECT_EQ(api_->get_backend(g).status().message(), "field \"id\": expected an integer 1-4294967295, got 0");
  ASSERT_NE(field_rule("port"), nullptr);
  EXPECT_EQ(field_rule("port")->integer->max, limits::kPort.max);
}

TEST_F(AdminApiTest, ConnectionSettingsArePolicyFieldsCheckedTogether) {
  v1::SetPolicyRequest p;
  p.set_connect_timeout_seconds(0);
  p.set_max_connections(5);
  EXPECT_EQ(api_->set_policy(p).status().message(),
            "field \"connect_timeout_seconds\": expected seconds > 0 and <= 3600, got 0");
  EXPECT_EQ(dp_->policy("web")->max_connections, 0u) << "one bad field: nothing changes";
  p.set_connect_timeout_seconds(2.5);
  p.set_idle_timeout_seconds(60);
  auto applied = api_->set_policy(p);
  ASSERT_TRUE(applied.ok()) << applied.status().message();
  EXPECT_EQ(applied->connect_timeout_seconds, 2.5);
  EXPECT_EQ(applied->idle_timeout_seconds, 60);
  EXPECT_EQ(applied->max_connections, 5u);
  EXPECT_EQ(dp_->service("web")->connect_timeout_seconds, 2.5);
}

TEST_F(AdminApiTest, LogLevelTakesTraceDebugOrInfo) {
  const LogLevel before = AdminApi::log_level();
  ASSERT_TRUE(api_->set_log_level(LogLevel::kDebug).ok());
  EXPECT_EQ(AdminApi::log_level(), LogLevel::kDebug);
  EXPECT_EQ(api_->set_log_level(LogLevel::kError).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AdminApi::log_level(), LogLevel::kDebug) << "nothing changed";
  ASSERT_TRUE(api_->set_log_level(before).ok());
}

TEST_F(AdminApiTest, ResolvesTheServiceOrSaysWhichExist) {
  EXPECT_EQ(*api_->resolve_service(""), "web");
  EXPECT_EQ(*api_->resolve_service("web"), "web");
  auto unknown = api_->resolve_service("api");
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "no service 'api'; services: web");
}

// The DNS policy: literals and names alike, a name resolved once at the call.
TEST_F(AdminApiTest, AddBackendTakesLiteralsAndNames) {
  test::TestBackend a("a"), b("b");
  v1::AddBackendRequest r;
  r.set_address("[127.0.0.1]");
  r.set_port(a.port());
  auto literal = api_->add_backend(r);
  ASSERT_TRUE(literal.ok()) << literal.status().message();
  EXPECT_EQ(literal->host, "127.0.0.1");
  r.set_address("localhost");
  r.set_port(b.port());
  auto named = api_->add_backend(r);
  ASSERT_TRUE(named.ok()) << named.status().message();
  EXPECT_EQ(named->host, "localhost");
  EXPECT_TRUE(named->address.ip_string() == "127.0.0.1" || named->address.ip_string() == "::1")
      << named->address.to_string();
  r.set_address("");
  EXPECT_EQ(api_->add_backend(r).status().message(), "missing required field \"address\"");
  r.set_address("no.such.host.invalid");
  EXPECT_EQ(api_->add_backend(r).status().message().rfind("field \"address\": cannot resolve host", 0), 0u);
}

TEST_F(AdminApiTest, ABackendsProxyProtocolIsItsOwnOrTheServices) {
  test::TestBackend a("a");
  v1::AddBackendRequest r;
  r.set_address("127.0.0.1");
  r.set_port(a.port());
  r.set_proxy_protocol(v1::PROXY_PROTOCOL_V2);
  auto added = api_->add_backend(r);
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_EQ(added->proxy_protocol, ProxyProtocol::kV2);
  EXPECT_EQ(dp_->service("web")->backends[0].proxy_protocol, std::nullopt) << "unset on an add: the service's";

  v1::UpdateBackendRequest u;
  u.set_id(added->id);
  u.set_proxy_protocol(v1::PROXY_PROTOCOL_UNSPECIFIED);
  EXPECT_EQ(api_->update_backend(u).status().message(),
            "field \"proxy_protocol\": expected one of service, off, v1, v2, got 0");
  u.set_proxy_protocol(static_cast<v1::ProxyProtocol>(9));
  EXPECT_EQ(api_->update_backend(u).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dp_->service("web")->backends[1].proxy_protocol, ProxyProtocol::kV2) << "a refused call changes nothing";
  u.set_proxy_protocol(v1::PROXY_PROTOCOL_OFF);
  auto off = api_->update_backend(u);
  ASSERT_TRUE(off.ok()) << off.status().message();
  EXPECT_EQ(off->proxy_protocol, ProxyProtocol::kOff);
  u.set_proxy_protocol(v1::PROXY_PROTOCOL_SERVICE);
  auto service = api_->update_backend(u);
  ASSERT_TRUE(service.ok()) << service.status().message();
  EXPECT_EQ(service->proxy_protocol, std::nullopt);
  EXPECT_EQ(to_proto(service->proxy_protocol), v1::PROXY_PROTOCOL_SERVICE);
}

TEST_F(AdminApiTest, ChangesWaitForTheStateWriterWhenThereIsOne) {
  v1::UpdateBackendRequest r;
  r.set_id(first_id());
  r.set_weight(2);
  EXPECT_TRUE(api_->update_backend(r).ok()) << "no writer: acknowledged at once";
  EXPECT_TRUE(api_->state_health().ok());

  test::TempDir dir;
  StateWriter writer(*dp_, dir.file("nib.state"));
  writer.start();
  api_->set_state_writer(&writer);
  r.set_weight(3);
  ASSERT_TRUE(api_->update_backend(r).ok());
  auto text = test::read_file(dir.file("nib.state"));
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("\"weight\": 3,"), std::string::npos) << *text;

  writer.stop();  // nothing keeps changes any more
  r.set_weight(4);
  auto unsaved = api_->update_backend(r);
  EXPECT_EQ(unsaved.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(unsaved.status().message().find("nib is stopping"), std::string::npos) << unsaved.status().message();
  EXPECT_EQ(dp_->service("web")->backends[0].weight, 4u) << "applied, only not saved";
  api_->set_state_writer(nullptr);
}

}  // namespace
}  // namespace nib::admin
