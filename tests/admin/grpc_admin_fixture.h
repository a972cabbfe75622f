#pragma once
// An in-process Dataplane with one service ("web") in front of one real
// TestBackend, the real gRPC admin server on an ephemeral port, and a plain
// channel to it. Fixtures that need a token file or TLS override
// admin_options(); the server must start for any test to run.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>

#include "tests/admin/admin_core_holder.h"
#include "admin/grpc/grpc_admin_server.h"
#include "dataplane/dataplane.h"
#include "tests/support/dataplane_fixture.h"
#include "tests/support/test_backend.h"

namespace nib::admin::test {

class GrpcAdminFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dp_ = std::make_unique<Dataplane>(nib::test::one_backend_config(backend_.address()));
    ASSERT_TRUE(dp_->start().ok());
    server_ = std::make_unique<GrpcAdminServer>(core_.get(*dp_), admin_options());
    Status st = server_->start();
    ASSERT_TRUE(st.ok()) << st.message();
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    if (server_) server_->stop(std::chrono::seconds(0));
    if (dp_) dp_->stop();
  }

  // Called from SetUp, after the derived fixture's members are built.
  virtual GrpcAdminServerOptions admin_options() { return {.listen = "127.0.0.1:0"}; }

  nib::test::TestBackend backend_{"b0"};
  std::unique_ptr<Dataplane> dp_;
  AdminCoreHolder core_;  // before the server: outlives it
  std::unique_ptr<GrpcAdminServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace nib::admin::test
