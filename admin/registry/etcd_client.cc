#include "admin/registry/etcd_client.h"

#include <grpcpp/grpcpp.h>

#include "etcd/rpc.grpc.pb.h"

namespace nib::admin {

struct EtcdClient::Member {
  std::string endpoint;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
  std::unique_ptr<etcdserverpb::Auth::Stub> auth;
  std::mutex token_mutex;
  std::string token;  // guarded by token_mutex; empty: not authenticated yet
};

namespace {

// A failure that another member may not have.
bool member_unreachable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

bool token_rejected(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         s.error_message().find("invalid auth token") != std::string::npos;
}

Status to_status(const grpc::Status& s, const std::string& endpoint) {
  if (s.ok()) return {};
  const std::string what = "etcd " + endpoint + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return Status(StatusCode::kUnavailable, what);
    case grpc::StatusCode::UNAUTHENTICATED:
      return Status(StatusCode::kUnauthenticated, what);
    case grpc::StatusCode::PERMISSION_DENIED:
      return Status(StatusCode::kPermissionDenied, what);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Status(StatusCode::kInvalidArgument, what);
    default:
      return Status(StatusCode::kInternal, what);
  }
}

std::shared_ptr<grpc::ChannelCredentials> credentials(const EtcdOptions& o) {
  if (!o.tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = o.ca_pem;
  ssl.pem_private_key = o.key_pem;
  ssl.pem_cert_chain = o.cert_pem;
  return grpc::SslCredentials(ssl);
}

class GrpcWatch final : public EtcdClient::Watch {
 public:
  GrpcWatch(std::unique_ptr<grpc::ClientContext> context,
            std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>> stream,
            std::string endpoint)
      : context_(std::move(context)), stream_(std::move(stream)), endpoint_(std::move(endpoint)) {}
  ~GrpcWatch() override {
    if (!finished_) {
      context_->TryCancel();
      (void)finish();
    }
  }
  bool next(etcdserverpb::WatchResponse* response) override { return stream_->Read(response); }
  void cancel() override { context_->TryCancel(); }
  Status finish() override {
    if (finished_) return status_;
    finished_ = true;
    status_ = to_status(stream_->Finish(), endpoint_);
    if (status_.ok()) status_ = Status(StatusCode::kUnavailable, "etcd " + endpoint_ + ": the watch ended");
    return status_;
  }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>> stream_;
  std::string endpoint_;
  bool finished_ = false;
  Status status_;
};

}  // namespace

EtcdClient::EtcdClient(EtcdOptions options) : options_(std::move(options)) {
  grpc::ChannelArguments args;
  // A member that vanished without a FIN (a partition) is noticed by the
  // watch within ~20 s rather than never. etcd's default floor for client
  // pings is 5 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Reconnect soon after a member comes back: the registry's link state
  // follows it.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  for (const auto& endpoint : options_.endpoints) {
    auto m = std::make_unique<Member>();
    m->endpoint = endpoint;
    m->channel = grpc::CreateCustomChannel(endpoint, credentials(options_), args);
    m->kv = etcdserverpb::KV::NewStub(m->channel);
    m->watch = etcdserverpb::Watch::NewStub(m->channel);
    m->auth = etcdserverpb::Auth::NewStub(m->channel);
    members_.push_back(std::move(m));
  }
}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string EtcdClient::current_endpoint() const {
  if (members_.empty()) return "";
  return members_[current_.load() % members_.size()]->endpoint;
}

Status EtcdClient::authenticate(Member& m) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
  etcdserverpb::AuthenticateRequest request;
  request.set_name(options_.user);
  request.set_password(options_.password);
  etcdserverpb::AuthenticateResponse response;
  grpc::Status s = m.auth->Authenticate(&context, request, &response);
  if (!s.ok()) return to_status(s, m.endpoint);
  std::lock_guard lock(m.token_mutex);
  m.token = response.token();
  return {};
}

Status EtcdClient::prepare(Member& m, grpc::ClientContext& context, bool unary) {
  if (unary) context.set_deadline(std::chrono::system_clock::now() + options_.timeout);
  if (options_.user.empty()) return {};
  std::string token;
  {
    std::lock_guard lock(m.token_mutex);
    token = m.token;
  }
  if (token.empty()) {
    if (Status st = authenticate(m); !st.ok()) return st;
    std::lock_guard lock(m.token_mutex);
    token = m.token;
  }
  context.AddMetadata("token", token);
  return {};
}

template <typename Call>
Status EtcdClient::on_some_member(const Call& call) {
  if (members_.empty()) return Status(StatusCode::kUnavailable, "etcd: no endpoints");
  Status last;
  const size_t start = current_.load();
  for (size_t i = 0; i < members_.size(); ++i) {
    size_t index = (start + i) % members_.size();
    Member& m = *members_[index];
    grpc::Status s;
    for (int attempt = 0; attempt < 2; ++attempt) {  // a second time with a fresh token
      grpc::ClientContext context;
      if (Status st = prepare(m, context, true); !st.ok()) {
        s = grpc::Status(st.code() == StatusCode::kUnavailable ? grpc::StatusCode::UNAVAILABLE
                                                                : grpc::StatusCode::UNAUTHENTICATED,
                         st.message());
        break;
      }
      s = call(m, context);
      if (options_.user.empty() || !token_rejected(s)) break;
      std::lock_guard lock(m.token_mutex);
      m.token.clear();
    }
    if (!member_unreachable(s)) {
      current_.store(index);
      return to_status(s, m.endpoint);
    }
    last = to_status(s, m.endpoint);
  }
  current_.store((start + 1) % members_.size());
  return last;
}

template <typename Request, typename Response>
Result<Response> EtcdClient::kv_call(
    grpc::Status (etcdserverpb::KV::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request) {
  Response response;
  Status st = on_some_member([&](Member& m, grpc::ClientContext& context) {
    response.Clear();
    return ((*m.kv).*method)(&context, request, &response);
  });
  if (!st.ok()) return st;
  return response;
}

Result<etcdserverpb::RangeResponse> EtcdClient::range_prefix(const std::string& prefix) {
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(prefix_end(prefix));
  return kv_call(&etcdserverpb::KV::Stub::Range, request);
}

Result<etcdserverpb::TxnResponse> EtcdClient::txn(const etcdserverpb::TxnRequest& request) {
  return kv_call(&etcdserverpb::KV::Stub::Txn, request);
}

Result<std::unique_ptr<EtcdClient::Watch>> EtcdClient::watch(const std::string& prefix, int64_t start_revision) {
  if (members_.empty()) return Status(StatusCode::kUnavailable, "etcd: no endpoints");
  // A stream has no deadline: its member is checked by keepalive pings. The
  // first member that takes the create request serves it.
  Status last;
  const size_t start = current_.load();
  for (size_t i = 0; i < members_.size(); ++i) {
    size_t index = (start + i) % members_.size();
    Member& m = *members_[index];
    auto context = std::make_unique<grpc::ClientContext>();
    if (Status st = prepare(m, *context, false); !st.ok()) {
      last = st;
      continue;
    }
    // Fail fast on a member that is down instead of queueing the stream.
    context->set_wait_for_ready(false);
    // A member cut off from the others (no leader) ends the watch instead of
    // going silent, so the watcher moves to a member that has the news.
    context->AddMetadata("hasleader", "true");
    auto stream = m.watch->Watch(context.get());
    etcdserverpb::WatchRequest request;
    auto* create = request.mutable_create_request();
    create->set_key(prefix);
    create->set_range_end(prefix_end(prefix));
    create->set_start_revision(start_revision);
    create->set_progress_notify(true);
    if (!stream->Write(request)) {
      last = to_status(stream->Finish(), m.endpoint);
      if (last.ok()) last = Status(StatusCode::kUnavailable, "etcd " + m.endpoint + ": the watch closed");
      continue;
    }
    current_.store(index);
    return std::unique_ptr<Watch>(new GrpcWatch(std::move(context), std::move(stream), m.endpoint));
  }
  current_.store((start + 1) % members_.size());
  return last;
}

}  // namespace nib::admin
