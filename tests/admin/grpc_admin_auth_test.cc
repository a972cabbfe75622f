// Token auth on the gRPC admin API, over a real channel: the same token file
// and the same rules as the REST API (admin/common/admin_auth.h). Health and
// reflection stay open so probes and tools work without a token.
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>
#include <gtest/gtest.h>

#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/admin/grpc_admin_fixture.h"
#include "tests/support/temp_file.h"

namespace nib::admin {
namespace {

using namespace std::chrono_literals;
using nib::test::TempFile;

constexpr const char* kAdminToken = "admin-token-0123456789abcdef";
constexpr const char* kReadToken = "read-token-0123456789abcdef";

class GrpcAdminAuthTest : public test::GrpcAdminFixture {
 protected:
  void SetUp() override {
    GrpcAdminFixture::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(server_->auth_enabled());
    stub_ = v1::Admin::NewStub(channel_);
  }
  GrpcAdminServerOptions admin_options() override {
    return {.listen = "127.0.0.1:0", .token_file = tokens_.path()};
  }

  std::unique_ptr<grpc::ClientContext> context(const std::string& authorization) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + 5s);
    if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
    return ctx;
  }
  grpc::Status list(const std::string& authorization) {
    auto ctx = context(authorization);
    v1::ListBackendsResponse out;
    return stub_->ListBackends(ctx.get(), v1::ListBackendsRequest(), &out);
  }
  grpc::Status add(const std::string& authorization) {
    auto ctx = context(authorization);
    v1::AddBackendRequest r;
    r.set_address("127.0.0.1");
    r.set_port(9);
    v1::Backend out;
    return stub_->AddBackend(ctx.get(), r, &out);
  }

  TempFile tokens_{std::string("# tokens\nadmin ") + kAdminToken + "\nreadonly " + kReadToken + "\n"};
  std::unique_ptr<v1::Admin::Stub> stub_;
};

TEST_F(GrpcAdminAuthTest, NoTokenIsUnauthenticated) {
  grpc::Status s = list("");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("bearer token"), std::string::npos) << s.error_message();
  EXPECT_EQ(add("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GrpcAdminAuthTest, UnknownOrMalformedTokenIsUnauthenticated) {
  grpc::Status s = list("Bearer not-a-token-0123456789abcdef");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(s.error_message().find("not-a-token"), std::string::npos) << "tokens are never echoed";
  EXPECT_EQ(list(kAdminToken).error_code(), grpc::StatusCode::UNAUTHENTICATED) << "the Bearer scheme is required";
  EXPECT_EQ(add("Bearer not-a-token-0123456789abcdef").error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GrpcAdminAuthTest, ReadOnlyTokenReadsButCannotChange) {
  EXPECT_TRUE(list(std::string("Bearer ") + kReadToken).ok());
  grpc::Status s = add(std::string("Bearer ") + kReadToken);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  auto ctx = context(std::string("Bearer ") + kReadToken);
  v1::SetPolicyRequest policy;
  v1::Policy out;
  EXPECT_EQ(stub_->SetPolicy(ctx.get(), policy, &out).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(dp_->service("web")->backends.size(), 1u) << "nothing changed";
}

TEST_F(GrpcAdminAuthTest, AdminTokenReadsAndChanges) {
  EXPECT_TRUE(list(std::string("Bearer ") + kAdminToken).ok());
  grpc::Status s = add(std::string("bearer ") + kAdminToken);  // the scheme is case-insensitive
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(dp_->service("web")->backends.size(), 2u);
}

TEST_F(GrpcAdminAuthTest, WatchEventsNeedsAToken) {
  auto ctx = context("");
  auto reader = stub_->WatchEvents(ctx.get(), v1::WatchEventsRequest());
  v1::Event e;
  EXPECT_FALSE(reader->Read(&e));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GrpcAdminAuthTest, HealthStaysOpen) {
  // grpc.health.v1.Health/Check with an empty request: SERVING (field 1 = 1).
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  grpc::Slice empty(std::string(""));
  grpc::ByteBuffer request(&empty, 1), response;
  grpc::Status s = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(), grpc::internal::RpcMethod("/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC),
      &ctx, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST(GrpcAdminAuthStartTest, BadTokenFileStopsStart) {
  ServiceConfig s;
  s.name = "web";
  s.listen = *SocketAddress::parse("127.0.0.1:0");
  DataplaneConfig config;
  config.workers = 1;
  config.services = {s};
  Dataplane dp(config);
  TempFile bad("superuser abcdefghijklmnopqrstuvwxyz\n");
  AdminApi api(dp);
  GrpcAdminServer server(api, GrpcAdminServerOptions{.listen = "127.0.0.1:0", .token_file = bad.path()});
  Status st = server.start();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find(":1:"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("abcdefghij"), std::string::npos) << "tokens are never echoed";
}

}  // namespace
}  // namespace nib::admin
