#pragma once
// A small client of etcd's v3 gRPC API (proto/etcd/rpc.proto): linearizable
// prefix reads, transactions, and a watch stream. The shared registry
// (etcd_registry.h) is its only user.
//
// Endpoints: one gRPC channel per member. A call that cannot reach its member
// (UNAVAILABLE, DEADLINE_EXCEEDED) moves on to the next member and is tried
// there, once around the list: a cluster with a quorum answers as long as one
// listed member is up. (etcd forwards writes to its leader itself.)
//
// Thread contract: every method may be called from any thread, concurrently;
// a Watch is used by one thread, and cancel() may come from any other.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "etcd/rpc.grpc.pb.h"

namespace nib::admin {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // host:port
  bool tls = false;                    // https endpoints
  std::string ca_pem, cert_pem, key_pem;  // empty ca: the system's roots; cert+key: mutual TLS
  std::string user, password;          // empty user: no authentication
  std::chrono::milliseconds timeout{3000};  // each unary call, per member
};

class EtcdClient {
 public:
  explicit EtcdClient(EtcdOptions options);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Every key under `prefix`, and the store's revision they were read at.
  [[nodiscard]] Result<etcdserverpb::RangeResponse> range_prefix(const std::string& prefix);
  [[nodiscard]] Result<etcdserverpb::TxnResponse> txn(const etcdserverpb::TxnRequest& request);

  // A watch on every key under a prefix, from a revision on.
  class Watch {
   public:
    virtual ~Watch() = default;
    // Blocks for the next response; false when the stream ended (see finish()).
    virtual bool next(etcdserverpb::WatchResponse* response) = 0;
    // Any thread: ends a blocked next().
    virtual void cancel() = 0;
    // After next() returned false: why the stream ended.
    virtual Status finish() = 0;
  };
  // The stream is open and its create request sent; the first response says
  // whether etcd accepted it (created) or refused it (canceled, e.g. a
  // compacted start_revision).
  [[nodiscard]] Result<std::unique_ptr<Watch>> watch(const std::string& prefix, int64_t start_revision);

  // The member calls go to now ("host:port").
  std::string current_endpoint() const;

  // "key + 1": the end of the range of every key starting with `prefix`.
  static std::string prefix_end(const std::string& prefix);

 private:
  struct Member;
  // Runs `call` on the current member, then on each next one while the
  // failure is the member's (unreachable), once around.
  template <typename Call>
  Status on_some_member(const Call& call);
  // A unary KV call on some member.
  template <typename Request, typename Response>
  Result<Response> kv_call(grpc::Status (etcdserverpb::KV::Stub::*method)(grpc::ClientContext*, const Request&,
                                                                          Response*),
                           const Request& request);
  // Sets the deadline and the auth token (authenticating first when needed).
  Status prepare(Member& member, grpc::ClientContext& context, bool unary);
  Status authenticate(Member& member);

  const EtcdOptions options_;
  std::vector<std::unique_ptr<Member>> members_;
  std::atomic<size_t> current_{0};
};

}  // namespace nib::admin
