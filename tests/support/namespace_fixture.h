#pragma once
// The base of the tests that run the real nib binary on networks they build
// (transparent proxy, direct server return): a client namespace, nib's, and
// two backend namespaces, made in SetUp() (root and iproute2 required:
// missing, the test fails under CI=true) and deleted, with every interface in
// them, when the fixture goes, however the test ends. A derived fixture wires
// them (veth pairs, a bridge) in its own SetUp() after calling this one:
//   NamespaceFixture::SetUp();
//   if (unready()) return;
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/net_namespace.h"
#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"

namespace nib::test {

class NamespaceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(nib_binary_exists(), "nib binary not built");
    NIB_REQUIRE(can_build_namespaces(), "root and iproute2 (ip netns)");
    client_ = make("c");
    nib_ns_ = make("n");
    for (int i = 0; i < 2; ++i) backend_ns_[i] = make("b" + std::to_string(i));
    ASSERT_TRUE(client_ && nib_ns_ && backend_ns_[0] && backend_ns_[1]) << "could not make the namespaces";
  }
  // For a derived SetUp() after calling this one: stop there too.
  bool unready() const { return IsSkipped() || HasFatalFailure(); }

  std::unique_ptr<NetNamespace> make(const std::string& tag) {
    auto ns = NetNamespace::create(tag);
    EXPECT_TRUE(ns.ok()) << ns.status().message();
    return ns.ok() ? std::move(*ns) : nullptr;
  }
  static void ok(const Status& st) { ASSERT_TRUE(st.ok()) << st.message(); }

  // nib in the foreground inside nib's namespace.
  std::unique_ptr<NibProcess> start_nib(std::vector<std::string> args) {
    return start_foreground_in(nib_ns_->name(), std::move(args), dir_.file("nib.pid"));
  }

  TempDir dir_;
  // Declared before the processes and sockets that live in them (in derived
  // fixtures and tests): deleted last.
  std::unique_ptr<NetNamespace> client_, nib_ns_, backend_ns_[2];
};

}  // namespace nib::test
