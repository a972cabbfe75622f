// The standard services next to nib's own: grpc.health.v1.Health and server
// reflection, which is what grpcurl-style tools rely on. Neither proto ships
// with Debian's gRPC, so the calls go out as raw bytes: the health messages
// are small enough to encode by hand, and the reflection messages come from
// the descriptors libgrpc++_reflection registers.
#include "admin/grpc/grpc_admin_server.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/support/sync_stream.h>
#include <gtest/gtest.h>

#include <set>

#include "tests/admin/grpc_admin_fixture.h"

namespace nib::admin {
namespace {

using namespace std::chrono_literals;
namespace pb = google::protobuf;

grpc::ByteBuffer to_buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string to_string(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  (void)buffer.Dump(&slices);
  std::string out;
  for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

class GrpcAdminServerTest : public test::GrpcAdminFixture {
 protected:
  // grpc.health.v1.Health/Check; the response's status field, or -1.
  int health(const std::string& service) {
    std::string request;
    if (!service.empty()) request = std::string("\x0a") + static_cast<char>(service.size()) + service;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::ByteBuffer response;
    grpc::Status s = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel_.get(), grpc::internal::RpcMethod("/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC),
        &ctx, to_buffer(request), &response);
    if (!s.ok()) return -1;
    std::string bytes = to_string(response);  // field 1, varint: 0x08 <status>
    return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : (bytes.empty() ? 0 : -2);
  }

  // One round trip on grpc.reflection.v1alpha.ServerReflection.
  std::unique_ptr<pb::Message> reflect(const std::string& field, const std::string& value) {
    const pb::DescriptorPool* pool = pb::DescriptorPool::generated_pool();
    const pb::Descriptor* req_type = pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
    const pb::Descriptor* resp_type = pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
    if (req_type == nullptr || resp_type == nullptr) {
      ADD_FAILURE() << "reflection descriptors not registered (is libgrpc++_reflection linked?)";
      return nullptr;
    }
    std::unique_ptr<pb::Message> request(factory_.GetPrototype(req_type)->New());
    request->GetReflection()->SetString(request.get(), req_type->FindFieldByName(field), value);

    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
        grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
            channel_.get(),
            grpc::internal::RpcMethod("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                      grpc::internal::RpcMethod::BIDI_STREAMING),
            &ctx));
    std::unique_ptr<pb::Message> response(factory_.GetPrototype(resp_type)->New());
    grpc::ByteBuffer in;
    bool ok = stream->Write(to_buffer(request->SerializeAsString())) && stream->Read(&in) &&
              response->ParseFromString(to_string(in));
    stream->WritesDone();
    grpc::Status finished = stream->Finish();
    EXPECT_TRUE(ok && finished.ok()) << finished.error_message();
    return response;
  }

  pb::DynamicMessageFactory factory_;
};

constexpr int kServing = 1;

TEST_F(GrpcAdminServerTest, HealthServiceAnswersServing) {
  EXPECT_EQ(health(""), kServing);
  EXPECT_EQ(health("nib.admin.v1.Admin"), kServing);
}

TEST_F(GrpcAdminServerTest, HealthIsGoneAfterStop) {
  server_->stop(0s);
  EXPECT_EQ(health(""), -1);
}

TEST_F(GrpcAdminServerTest, ReflectionListsTheServices) {
  auto response = reflect("list_services", "*");
  ASSERT_TRUE(response);
  const pb::Reflection* r = response->GetReflection();
  const pb::FieldDescriptor* list_field = response->GetDescriptor()->FindFieldByName("list_services_response");
  ASSERT_TRUE(r->HasField(*response, list_field)) << response->DebugString();
  const pb::Message& list = r->GetMessage(*response, list_field);
  const pb::FieldDescriptor* services = list.GetDescriptor()->FindFieldByName("service");
  std::set<std::string> names;
  for (int i = 0; i < list.GetReflection()->FieldSize(list, services); ++i) {
    const pb::Message& service = list.GetReflection()->GetRepeatedMessage(list, services, i);
    names.insert(service.GetReflection()->GetString(service, service.GetDescriptor()->FindFieldByName("name")));
  }
  EXPECT_TRUE(names.contains("nib.admin.v1.Admin")) << response->DebugString();
  EXPECT_TRUE(names.contains("grpc.health.v1.Health")) << response->DebugString();
}

TEST_F(GrpcAdminServerTest, ReflectionServesTheAdminProtoFile) {
  auto response = reflect("file_containing_symbol", "nib.admin.v1.Admin");
  ASSERT_TRUE(response);
  const pb::FieldDescriptor* field = response->GetDescriptor()->FindFieldByName("file_descriptor_response");
  ASSERT_TRUE(response->GetReflection()->HasField(*response, field)) << response->DebugString();
  const pb::Message& files = response->GetReflection()->GetMessage(*response, field);
  const pb::FieldDescriptor* protos = files.GetDescriptor()->FindFieldByName("file_descriptor_proto");
  ASSERT_GE(files.GetReflection()->FieldSize(files, protos), 1);
  pb::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(files.GetReflection()->GetRepeatedString(files, protos, 0)));
  EXPECT_EQ(file.name(), "nib/admin/v1/admin.proto");
  EXPECT_EQ(file.package(), "nib.admin.v1");
  ASSERT_EQ(file.service_size(), 1);
  EXPECT_EQ(file.service(0).name(), "Admin");
}

}  // namespace
}  // namespace nib::admin
