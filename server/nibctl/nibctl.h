#pragma once
// nibctl: the command-line client of nib's gRPC admin API (nib.admin.v1).
// Parses a command line, makes the calls, prints tables or JSON.
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "dataplane/base/status.h"
#include "nib/admin/v1/admin.grpc.pb.h"

namespace nib::nibctl {

struct CommandSpec;

// Exit statuses, also listed in usage().
// The command line is parsed by CLI11 (libcli11-dev): each command has its own
// --help; global options may come before or after the command words.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // nib refused or failed the request
inline constexpr int kExitUsage = 2;        // bad command line or token file
inline constexpr int kExitUnreachable = 3;  // no answer from nib at --addr

class Nibctl {
 public:
  // Answers go to out, errors to err.
  Nibctl(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  // args exclude argv[0]. Returns the exit status. Runs once.
  int run(const std::vector<std::string>& args);
  static std::string usage();

  // A parsed command line: command words and options ("--weight" -> "5";
  // flags map to "").
  struct Args {
    std::vector<std::string> words;
    std::map<std::string, std::string> options;
  };

 private:
  // Every command with its handler: the source of the parser and the --help texts.
  static const std::vector<CommandSpec>& commands();
  struct Cli;  // the CLI11 parser made from commands() (nibctl.cc)
  static std::unique_ptr<Cli> make_cli();

  int usage_error(const std::string& message);
  int rpc_error(const grpc::Status& status);
  bool connect(const Args& args, int* exit_code);
  // Plaintext, or TLS when --tls or --ca-file is given.
  Result<std::shared_ptr<grpc::Channel>> make_channel(bool tls, const std::string* ca_file,
                                                      const std::string* server_name) const;
  std::unique_ptr<grpc::ClientContext> context() const;
  bool json() const { return json_; }
  void print_json(const google::protobuf::Message& message);
  // One unary call to `method`: a failure is rpc_error()'s exit status; the
  // response is printed as JSON (--json) or by `print`, and the exit is 0.
  template <typename Request, typename Response, typename Print>
  int call(grpc::Status (admin::v1::Admin::Stub::*method)(grpc::ClientContext*, const Request&, Response*),
           const Request& request, Print&& print) {
    Response response;
    grpc::Status s = (stub_.get()->*method)(context().get(), request, &response);
    if (!s.ok()) return rpc_error(s);
    if (json()) {
      print_json(response);
    } else {
      print(response);
    }
    return kExitOk;
  }

  int backends_list(const Args& args);
  int backends_show(const Args& args);
  int backends_add(const Args& args);
  int backends_rm(const Args& args);
  int backends_drain(const Args& args);
  int backends_set(const Args& args);
  int services(const Args& args);
  int clients_list(const Args& args);
  int clients_forget(const Args& args);
  int clients_pin(const Args& args);
  int clients_unpin(const Args& args);
  int clients_pins(const Args& args);
  int clients_migrate(const Args& args);
  int stats(const Args& args);
  int policy_show(const Args& args);
  int registry(const Args& args);
  int policy_set(const Args& args);
  int acl_show(const Args& args);
  int acl_set(const Args& args);
  int acl_clear(const Args& args);
  int set_acl(const std::vector<std::string>& entries);
  int tls_show(const Args& args);
  int tls_set(const Args& args);
  int tls_reload(const Args& args);
  int watch(const Args& args);

  std::ostream& out_;
  std::ostream& err_;
  std::string addr_ = "127.0.0.1:9902";
  std::string service_;
  std::string token_;
  double timeout_seconds_ = 10;
  bool json_ = false;
  std::unique_ptr<admin::v1::Admin::Stub> stub_;
};

}  // namespace nib::nibctl
