// The gRPC admin server's limits (admin/common/admin_limits.h, GrpcLimits):
// open WatchEvents streams hold no thread, past their cap a stream gets a
// clear RESOURCE_EXHAUSTED, and unary calls keep working throughout.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "admin/common/admin_plane_stats.h"
#include "nib/admin/v1/admin.grpc.pb.h"
#include "tests/admin/grpc_admin_fixture.h"
#include "tests/support/test_client.h"

namespace nib::admin::test {
namespace {

using namespace std::chrono_literals;

class GrpcAdminLimitsTest : public GrpcAdminFixture {
 protected:
  GrpcAdminServerOptions admin_options() override {
    return {.listen = "127.0.0.1:0", .limits = limits(), .stats = &stats_};
  }
  virtual GrpcLimits limits() { return {}; }  // the defaults: what nib runs with

  // A channel of its own (gRPC would otherwise share one connection between
  // channels with the same arguments).
  std::unique_ptr<v1::Admin::Stub> stub(int n) {
    grpc::ChannelArguments args;
    args.SetInt("nib.test.channel", n);
    return v1::Admin::NewStub(
        grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args));
  }
  static std::unique_ptr<grpc::ClientContext> context(Duration timeout = 10s) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + timeout);
    return c;
  }

  struct Watch {
    std::unique_ptr<grpc::ClientContext> ctx;
    std::unique_ptr<grpc::ClientReader<v1::Event>> reader;
  };

  AdminPlaneStats stats_;
};

TEST_F(GrpcAdminLimitsTest, StreamsPastTheCapAreRefusedAndUnaryCallsGoOn) {
  const size_t cap = limits().max_watch_streams;
  const size_t extra = 20;
  // Ten streams per connection (under the per-connection stream limit).
  std::vector<std::unique_ptr<v1::Admin::Stub>> stubs;
  for (size_t i = 0; i < (cap + extra + 9) / 10; ++i) stubs.push_back(stub(static_cast<int>(i)));
  std::vector<Watch> watches;
  for (size_t i = 0; i < cap + extra; ++i) {
    Watch w{context(60s), nullptr};
    w.reader = stubs[i / 10]->WatchEvents(w.ctx.get(), v1::WatchEventsRequest());
    w.reader->WaitForInitialMetadata();  // subscribed (or refused) before the next one
    watches.push_back(std::move(w));
  }
  EXPECT_EQ(stats_.value(AdminGauge::kGrpcWatchStreams), static_cast<int64_t>(cap));
  EXPECT_EQ(stats_.hits(AdminLimitId::kGrpcMaxWatchStreams), extra);

  // The ones past the cap ended with a clear status.
  for (size_t i = cap; i < cap + extra; ++i) {
    v1::Event e;
    EXPECT_FALSE(watches[i].reader->Read(&e));
    grpc::Status s = watches[i].reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << i;
    EXPECT_NE(s.error_message().find("too many WatchEvents streams are open (" + std::to_string(cap) + ")"),
              std::string::npos)
        << s.error_message();
  }
  // Unary calls, on a connection of their own and on the streams' ones.
  auto unary = stub(1000);
  for (int i = 0; i < 50; ++i) {
    v1::ListServicesResponse out;
    grpc::Status s = (i % 2 ? unary : stubs[i % stubs.size()])->ListServices(context().get(), {}, &out);
    ASSERT_TRUE(s.ok()) << i << ": " << s.error_message();
  }
  // Every open stream still delivers.
  v1::SetPolicyRequest p;
  p.set_stubborn(true);
  v1::Policy policy;
  ASSERT_TRUE(unary->SetPolicy(context().get(), p, &policy).ok());
  for (size_t i = 0; i < cap; ++i) {
    v1::Event e;
    ASSERT_TRUE(watches[i].reader->Read(&e)) << i;
    EXPECT_EQ(e.type(), v1::EVENT_TYPE_POLICY_CHANGED) << i;
  }
  // A stream that ends frees its place.
  watches[0].ctx->TryCancel();
  v1::Event e;
  while (watches[0].reader->Read(&e)) {
  }
  EXPECT_EQ(watches[0].reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(nib::test::wait_until([&] { return stats_.value(AdminGauge::kGrpcWatchStreams) == int64_t(cap) - 1; }));
  Watch again{context(), nullptr};
  again.reader = unary->WatchEvents(again.ctx.get(), v1::WatchEventsRequest());
  again.reader->WaitForInitialMetadata();
  EXPECT_EQ(stats_.value(AdminGauge::kGrpcWatchStreams), static_cast<int64_t>(cap));
  again.ctx->TryCancel();

  // Stopping ends every stream promptly.
  auto begin = MonoClock::now();
  server_->stop(5s);
  EXPECT_LT(MonoClock::now() - begin, 5s);
  for (size_t i = 1; i < cap; ++i) {
    while (watches[i].reader->Read(&e)) {
    }
    EXPECT_EQ(watches[i].reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE) << i;
  }
}

class GrpcSmallMessagesTest : public GrpcAdminLimitsTest {
 protected:
  GrpcLimits limits() override { return {.max_receive_message_bytes = 4096}; }
};

TEST_F(GrpcSmallMessagesTest, AMessageOverTheReceiveLimitIsRefused) {
  v1::AddBackendRequest add;
  add.set_address(std::string(8192, 'a'));
  add.set_port(80);
  v1::Backend out;
  grpc::Status s = stub(0)->AddBackend(context().get(), add, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  v1::ListServicesResponse services;
  EXPECT_TRUE(stub(0)->ListServices(context().get(), {}, &services).ok());
}

}  // namespace
}  // namespace nib::admin::test
