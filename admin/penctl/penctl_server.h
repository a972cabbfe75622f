#pragma once
// Pen's control port (-C [host:]port): the penctl text protocol, one command
// per connection ("servers\n"), a reply, then close. The connections are
// served together by PenctlListener (penctl_listener.h, with the limits:
// connections, the command line's deadline and length). Commands act on the
// Dataplane's runtime-management interface, on the first service (Pen runs
// exactly one). No authentication, like Pen: listen on loopback.
//
// Every word of penctl(1) is in one table (kCommands in the .cc): it either
// works or answers one "error: ..." line, and a failed command's connection
// is then reset, because penctl exits non-zero only when its read fails
// (penctl.c). Words penctl(1) does not know are errors too. Lines starting
// with '#' are comments, as in Pen's config files. docs/pen-compat.md lists
// each command's status.
//
// Pen's mode words (roundrobin, hash, weight, prio and their "no" forms) set
// Pen's flags, which combine as Pen's do (dataplane/config/pen_mode_flags.h).
//
// Access lists: the ten lists (0-9) live here. The one named by client_acl
// (default 0) is the service's ACL: pushed to the service through the admin
// core (announced, saved) whenever it or the choice changes, and taken from
// the service before an entry is added to it or it is written out, so that
// what REST, gRPC, a reload or a restart set is what it holds (it starts
// empty and does not override a configured acl until then). The one named by control_acl (default 0)
// is checked here for each control connection; a denied one is closed
// without a reply.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "admin/common/admin_limits.h"
#include "admin/penctl/penctl_listener.h"
#include "admin/penctl/status_file_setting.h"
#include "dataplane/base/status.h"
#include "dataplane/base/unique_fd.h"
#include "dataplane/config/pen_mode_flags.h"
#include "dataplane/net/access_list.h"

namespace nib {
class Dataplane;
}

namespace nib::admin {

class AdminApi;
class AdminPlaneStats;

struct PenctlServerOptions {
  std::string listen;  // "host:port" (an IP literal); port 0 picks a free one
  // Pen's -X: `exit` calls this (on the command thread; it must return: the
  // App raises SIGTERM). Unset: `exit` is an error.
  std::function<void()> exit;
  // Pen's -F file: where `write` without a FILE writes. Empty: nib has none.
  std::string config_file;
  // Pen's -w status file, which `web_stats FILE` and `no web_stats` change;
  // owned by the App, it must outlive the server. Null: web_stats is refused.
  StatusFileSetting* status_file = nullptr;
  // False: `write` renders the running configuration but writes no file,
  // and `log FILE` opens none. The fuzzer's inputs name any path.
  bool write_files = true;
  PenctlLimits limits;
  AdminPlaneStats* stats = nullptr;  // may be null; must outlive the server
};

class PenctlServer {
 public:
  // Commands act through the admin core (validation, changes, the durable
  // commit); reads of the pages come from its Dataplane.
  PenctlServer(AdminApi& api, PenctlServerOptions options);
  ~PenctlServer();  // stop()
  PenctlServer(const PenctlServer&) = delete;
  PenctlServer& operator=(const PenctlServer&) = delete;

  // Binds and starts the serving thread: options.listen is "[IP:]port" or,
  // as in Pen, a Unix socket path (starting with '/'). kInvalidArgument for a
  // malformed address, kUnavailable when it cannot be bound, kAlreadyExists
  // for a socket path another process serves. Call once.
  Status start();
  uint16_t port() const { return port_; }  // 0 for a Unix socket
  // Any thread; idempotent. Closes every control connection, whatever its
  // client is doing.
  void stop();

  // One command line (without the newline) -> the reply Pen would send.
  // Any thread but the listener's loop: a change waits for its durable
  // commit (the listener runs commands on its command thread). Public for tests.
  PenctlReply execute(const std::string& line);

  // Pen's -F file and `include FILE`: a file of command lines, run through
  // execute()'s interpreter. Blank lines and '#' comments are skipped; an
  // `include FILE` line reads that file in its place (paths as given, relative
  // to nib's working directory, as Pen's), at most kMaxIncludeDepth deep, so a
  // file that includes itself is an error, not a loop.
  //
  // Validate, then apply: every line is first checked by its own handler in
  // check mode (the word, the arguments, the server it names; nothing
  // changes), and only when all pass are they applied in order. A bad line:
  // kInvalidArgument "FILE:LINE: <error>", and nothing changed. What check
  // mode cannot foresee (a refusal by the admin core once earlier lines are
  // in, or a change made meanwhile through another front end) stops the apply
  // at that line: kFailedPrecondition, saying how many lines were applied.
  // Replies of reading commands (servers, mode, ...) are dropped, as Pen
  // prints them to its stdout. Any thread but the listener's loop.
  Status run_file(const std::string& path);
  // Pen's -o/-O lines nib's command line leaves to the control port's
  // interpreter (ACLs): checked whole, then applied, as a -F file; errors
  // name "-o 'LINE'".
  Status run_commands(const std::vector<std::string>& lines);
  // Without a running nib (nib --check): reads the file and its includes and
  // checks each line's command word (known to penctl(1), supported by nib).
  // The arguments are checked at start, by run_file().
  static Status check_file_words(const std::string& path);
  static constexpr int kMaxIncludeDepth = 8;

  // A command's words and the service it acts on (the first; Pen runs one).
  // `check`: validate only (run_file's first pass); a handler returns before
  // it changes anything.
  struct Command {
    const std::vector<std::string>& w;
    const std::string& service;
    bool check = false;
  };
  using Handler = PenctlReply (PenctlServer::*)(const Command&);
  // A row of the command table: penctl(1)'s words (and Pen's few others).
  struct CommandEntry {
    std::string_view key;  // the first word, or "no WORD" for the negated forms
    Handler handler;       // nullptr: not supported; `why` says so
    std::string_view why;  // unsupported: why, and what to use instead
  };
  // The table, in penctl(1)'s order.
  static std::span<const CommandEntry> commands();
  // The row for a line's words (w[0], or "no w[1]"); null for a word penctl(1)
  // does not know.
  static const CommandEntry* find_command(const std::vector<std::string>& w);
  // The one reply for what nib does not do (yet): an error naming the command.
  static PenctlReply unsupported(std::string_view command, std::string_view why);

 private:
  bool unix_path() const { return options_.listen.starts_with('/'); }
  Result<UniqueFd> listen_tcp();
  Result<UniqueFd> listen_unix();
  bool control_permits(const SocketAddress& peer) const;

  // One line of a command file, where it came from.
  struct FileLine {
    std::string file;
    size_t number;
    std::string text;
  };
  // Appends `path`'s command lines, its includes expanded in place; `depth`
  // counts the includes that led here.
  static Status read_file_lines(const std::string& path, int depth, std::vector<FileLine>* out);
  Status run_file(const std::string& path, int depth);
  // Checks every line, then applies them in order (run_file's two passes).
  Status run_lines(const std::vector<FileLine>& lines);
  // The error for a word penctl(1) does not know (entry null) or nib does not
  // run (no handler); an empty reply otherwise.
  static PenctlReply word_refusal(const std::vector<std::string>& w, const CommandEntry* entry);
  PenctlReply dispatch(const std::string& line, bool check);

  // One handler per command of the table; each checks its own arguments.
  PenctlReply cmd_acl(const Command& c);
  PenctlReply cmd_no_acl(const Command& c);
  PenctlReply cmd_client_acl(const Command& c);
  PenctlReply cmd_tarpit_acl(const Command& c);  // direct server return only
  PenctlReply cmd_abort_on_error(const Command& c);  // and "no abort_on_error"
  PenctlReply cmd_control_acl(const Command& c);
  PenctlReply cmd_pid(const Command& c);
  PenctlReply cmd_control(const Command& c);
  PenctlReply cmd_listen(const Command& c);
  PenctlReply cmd_servers(const Command& c);
  PenctlReply cmd_server(const Command& c);
  // `server N address A ...` with the next free N.
  struct ServerLine;  // the line's pairs, parsed
  static Result<ServerLine> parse_server_line(const std::vector<std::string>& w);
  static Result<uint32_t> parse_port(const std::string& text);
  // Server `id` of `service` takes the clients list `list` permits, from now
  // on and whenever the list changes.
  PenctlReply set_server_acl(const std::string& service, uint32_t id, size_t list);
  PenctlReply add_server(const Command& c, uint64_t index, size_t servers, const ServerLine& line,
                         uint16_t listen_port);
  PenctlReply cmd_status(const Command& c);
  PenctlReply cmd_recent(const Command& c);
  PenctlReply cmd_connection(const Command& c);  // connection N
  PenctlReply cmd_close(const Command& c);       // close N
  PenctlReply cmd_mode(const Command& c);
  // blacklist, tracking, clients_max, timeout, idle_timeout, conn_max, pending_max, idlers
  PenctlReply cmd_valued(const Command& c);
  PenctlReply cmd_debug(const Command& c);
  PenctlReply cmd_ssl(const Command& c);
  PenctlReply cmd_exit(const Command& c);
  PenctlReply cmd_socket_option(const Command& c);  // [no] tcp_nodelay, [no] keepalive, [no] transparent, tcp_fastclose, source, [accept_]proxy_protocol
  PenctlReply cmd_write(const Command& c);
  PenctlReply cmd_include(const Command& c);
  PenctlReply cmd_in_force(const Command& c);  // no ascii, no http
  PenctlReply cmd_web_stats(const Command& c);  // and "no web_stats"
  // Pen's `write` text for `service`; `path` goes in its comment line.
  Result<std::string> running_config(const std::string& service, const std::string& path);
  PenctlReply cmd_flag(const Command& c);     // roundrobin, hash, weight, prio and "no ..."
  PenctlReply cmd_stubborn(const Command& c);  // and "no stubborn"
  PenctlReply cmd_nothing(const Command& c);
  PenctlReply cmd_log(const Command& c);      // and "no log"  // Pen's own no-ops (block, delayed_forward, epoll)
  // The list client_acl names becomes the service's ACL in force, which the
  // APIs, a reload or a restart (--state) may have set since.
  void sync_client_list(const std::string& service);
  // After list `list` changed, or became the client or tarpit list: pushes it
  // where it is in use.
  PenctlReply push_changed_list(std::unique_lock<std::mutex> lock, const std::string& service, size_t list);
  // Pen's flags, or the flag of the current mode when it was changed
  // elsewhere since (REST, gRPC, a reload).
  PenModeFlags current_flags(BalanceMode mode);

  static constexpr size_t kAccessLists = 10;
  mutable std::mutex acl_mu_;  // the lists and both choices; never held across a syscall
  std::array<AccessList, kAccessLists> acls_;
  size_t client_acl_ = 0;
  size_t control_acl_ = 0;
  std::optional<size_t> tarpit_acl_;  // Pen's -1: none
  // Pen's `server N acl A`: the list of each server that has one, by service
  // and backend id; pushed again when the list changes.
  std::map<std::pair<std::string, uint32_t>, size_t> server_acls_;
  std::mutex flags_mu_;
  PenModeFlags flags_;

  AdminApi& api_;
  Dataplane& dataplane_;  // read views for the pages and listings
  const PenctlServerOptions options_;
  uint16_t port_ = 0;           // TCP: the bound port
  std::string control_text_;    // the bound address or the socket path, for `control`
  std::string socket_path_;     // a Unix socket this server made; unlinked by stop()
  std::unique_ptr<PenctlListener> listener_;  // last: it calls execute() until stopped
};

}  // namespace nib::admin
