// Pen's -u user and -j dir (issue 14) through the real nib binary, started as
// root: every thread ends as the user with no capability, and traffic, SIGHUP
// reload, state writes and access log reopening still work; a chrooted nib
// serves; an unknown user or a root control port stops the start with
// nothing served.
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "tests/support/nib_process.h"
#include "tests/support/prerequisites.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib {
namespace {

using namespace std::chrono_literals;
using test::NibProcess;
using test::TestBackend;
using test::TestClient;

std::string at(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }
SocketAddress lb(uint16_t port) { return *SocketAddress::from_ip("127.0.0.1", port); }

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}


// LeakSanitizer reads /proc/PID/task when an ASan build exits; a jail has
// no /proc, so the exit would fail for that alone. Leak checks stay on for
// every other start of the binary.
class NoLeakCheckInAJail {
 public:
  NoLeakCheckInAJail() {
    const char* now = std::getenv("ASAN_OPTIONS");
    if (now != nullptr) saved_ = now;
    const std::string options = (saved_ ? *saved_ + ":" : std::string()) + "detect_leaks=0";
    ::setenv("ASAN_OPTIONS", options.c_str(), 1);
  }
  ~NoLeakCheckInAJail() {
    if (saved_) {
      ::setenv("ASAN_OPTIONS", saved_->c_str(), 1);
    } else {
      ::unsetenv("ASAN_OPTIONS");
    }
  }
  NoLeakCheckInAJail(const NoLeakCheckInAJail&) = delete;
  NoLeakCheckInAJail& operator=(const NoLeakCheckInAJail&) = delete;

 private:
  std::optional<std::string> saved_;
};

class PrivilegesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NIB_REQUIRE(test::nib_binary_exists(), "nib binary not built");
    NIB_REQUIRE(::geteuid() == 0, "-u and -j need nib to start as root");
    const passwd* pw = ::getpwnam("nobody");
    NIB_REQUIRE(pw != nullptr, "no user nobody");
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    // The user must reach its directories: the temporary directory is 0700.
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  }

  // A directory under dir_ owned by nobody: where it may create files.
  std::string nobody_dir(const std::string& name) {
    const std::string path = dir_.file(name);
    EXPECT_EQ(::mkdir(path.c_str(), 0755), 0);
    EXPECT_EQ(::chown(path.c_str(), uid_, gid_), 0);
    return path;
  }

  // nib in the foreground, started as root, ready once it dropped privileges.
  std::unique_ptr<NibProcess> start(std::vector<std::string> args) {
    auto nib = test::start_foreground(std::move(args), pid_file_);
    if (nib && !nib->wait_for_output("running as ", 10s)) {
      ADD_FAILURE() << "no privilege drop: " << nib->output();
      return nullptr;
    }
    return nib;
  }

  // Every thread of `pid`: its uids and gids are nobody's and it holds no
  // capability at all.
  void expect_every_thread_unprivileged(int pid) {
    const std::string uid = std::to_string(uid_), gid = std::to_string(gid_);
    size_t threads = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
      auto s = test::proc_status(task.path().string() + "/status");
      if (s.empty()) continue;  // a thread that just ended
      ++threads;
      const std::string tid = task.path().filename().string();
      EXPECT_EQ(s["Uid"], uid + "\t" + uid + "\t" + uid + "\t" + uid) << "thread " << tid;
      EXPECT_EQ(s["Gid"], gid + "\t" + gid + "\t" + gid + "\t" + gid) << "thread " << tid;
      EXPECT_EQ(s["Groups"].find(" 0 "), std::string::npos) << "thread " << tid << " in root's group: " << s["Groups"];
      EXPECT_NE(s["Groups"].rfind("0", 0), 0u) << "thread " << tid << ": " << s["Groups"];
      for (const char* set : {"CapEff", "CapPrm", "CapInh", "CapAmb"}) {
        EXPECT_EQ(s[set], "0000000000000000") << "thread " << tid << " " << set;
      }
    }
    EXPECT_GT(threads, 1u) << "workers run beside the main thread";
  }

  // Adds b1 through the REST API; the state file at `state` then has it,
  // written by the unprivileged nib.
  void add_b1_and_expect_it_saved(uint16_t admin_port, const std::string& state) {
    const std::string add = R"({"address": "127.0.0.1", "port": )" + std::to_string(b1_.port()) + "}";
    auto added = test::http_request(lb(admin_port), "POST", "/api/v1/backends", add);
    ASSERT_TRUE(added.ok()) << added.status().message();
    EXPECT_LT(added->status, 300) << added->body;
    auto saved = test::read_file(state);
    ASSERT_TRUE(saved.ok()) << saved.status().message();
    EXPECT_NE(saved->find(std::to_string(b1_.port())), std::string::npos) << *saved;
  }

  uid_t owner_of(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
  }

  test::TempDir dir_;
  const std::string pid_file_ = dir_.file("nib.pid");
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  TestBackend b0_{"b0"};
  TestBackend b1_{"b1"};
};

// -u nobody with --config, --state and an access log: what nib does after the
// start still works as the user, from directories the user owns.
TEST_F(PrivilegesTest, RunsAsTheUserWithNoCapabilityAndKeepsReloadStateAndLogWorking) {
  const std::string var = nobody_dir("var");  // the state file's and the log's directory
  const std::string state = var + "/nib.state", log = var + "/access.log";
  const uint16_t port = test::free_port(), admin_port = test::free_port();
  const std::string config = dir_.file("nib.yaml");
  auto yaml = [&](const std::string& idle) {
    return "workers: 2\naccess_log:\n  path: " + log + "\nservices:\n  - name: web\n    listen: " + at(port) +
           "\n    idle_timeout: " + idle + "\n    backends:\n      - " + at(b0_.port()) +
           "\nadmin:\n  http_listen: " + at(admin_port) + "\n  grpc_listen: 127.0.0.1:0\n";
  };
  ASSERT_TRUE(test::write_file(config, yaml("0")).ok());
  auto nib = start({"--config", config, "--state", state, "-u", "nobody"});
  ASSERT_TRUE(nib);
  EXPECT_NE(nib->output().find("running as user nobody (uid " + std::to_string(uid_)), std::string::npos)
      << nib->output();
  expect_every_thread_unprivileged(nib->pid());

  // Traffic.
  auto served = test::who_serves(lb(port));
  ASSERT_TRUE(served.ok()) << served.status().message();
  EXPECT_EQ(*served, "b0");

  // A change through the admin API is saved, by the user.
  ASSERT_NO_FATAL_FAILURE(add_b1_and_expect_it_saved(admin_port, state));
  EXPECT_EQ(owner_of(state), uid_);

  // SIGHUP reloads the file (and reopens the log).
  ASSERT_TRUE(test::write_file(config, yaml("60")).ok());
  ASSERT_TRUE(nib->signal(SIGHUP).ok());
  ASSERT_TRUE(nib->wait_for_output("reloaded " + config, 10s)) << nib->output();
  EXPECT_EQ(nib->output().find("reload failed"), std::string::npos) << nib->output();

  // logrotate's way: rename, signal; the new file is the user's and takes lines.
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  const size_t reopened_before = occurrences(nib->output(), "reopened");
  ASSERT_TRUE(nib->signal(SIGUSR1).ok());
  ASSERT_TRUE(test::wait_until([&] { return occurrences(nib->output(), "reopened") > reopened_before; }, 10s))
      << nib->output();
  ASSERT_TRUE(test::who_serves(lb(port)).ok());
  ASSERT_TRUE(test::wait_until([&] {
    auto text = test::read_file(log);
    return text.ok() && !text->empty();
  }, 10s)) << nib->output();
  EXPECT_EQ(owner_of(log), uid_);
  EXPECT_EQ(nib->output().find("ERROR"), std::string::npos) << nib->output();

  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  EXPECT_EQ(nib->wait_exit(30s), 0) << nib->output();
}

// -j: the process's root is the jail; it serves, and the state file given
// relative to the jail is written inside it.
TEST_F(PrivilegesTest, AChrootedNibServesTraffic) {
  const std::string jail = nobody_dir("jail");
  ASSERT_EQ(::mkdir((jail + "/state").c_str(), 0755), 0);
  ASSERT_EQ(::chown((jail + "/state").c_str(), uid_, gid_), 0);
  const uint16_t port = test::free_port(), admin_port = test::free_port();
  NoLeakCheckInAJail no_leak_check;
  auto nib = start({"-j", jail, "-u", "nobody", "--state", "state/nib.state", "--admin-http", at(admin_port),
                    at(port), at(b0_.port())});
  ASSERT_TRUE(nib);
  char root[PATH_MAX] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(nib->pid()) + "/root").c_str(), root, sizeof root - 1), 0);
  EXPECT_EQ(std::string(root), std::filesystem::canonical(jail).string());
  expect_every_thread_unprivileged(nib->pid());

  auto served = test::who_serves(lb(port));
  ASSERT_TRUE(served.ok()) << served.status().message();
  EXPECT_EQ(*served, "b0");
  ASSERT_NO_FATAL_FAILURE(add_b1_and_expect_it_saved(admin_port, jail + "/state/nib.state"));

  ASSERT_TRUE(nib->signal(SIGTERM).ok());
  EXPECT_EQ(nib->wait_exit(30s), 0) << nib->output();
}

// Pen's usual way: in the background (no -f), in a jail that has no /dev:
// the syslog socket and /dev/null were opened before the chroot.
TEST_F(PrivilegesTest, InTheBackgroundInAJail) {
  const std::string jail = nobody_dir("jail");
  const uint16_t port = test::free_port();
  NoLeakCheckInAJail no_leak_check;
  auto r = test::run_nib({"-p", pid_file_, "-u", "nobody", "-j", jail, at(port), at(b0_.port())});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto text = test::read_file(pid_file_);
  ASSERT_TRUE(text.ok());
  const int pid = std::stoi(*text);
  // Not the test's child: stopped on every exit path.
  struct Stop {
    int pid;
    ~Stop() { ::kill(pid, SIGKILL); }
  } stop{pid};
  const std::string proc = "/proc/" + std::to_string(pid);
  ASSERT_TRUE(test::wait_until([&] { return test::proc_status(proc + "/status")["Uid"].rfind(std::to_string(uid_), 0) == 0; },
                               10s));
  char target[PATH_MAX] = {};
  ASSERT_GT(::readlink((proc + "/fd/2").c_str(), target, sizeof target - 1), 0);
  EXPECT_EQ(std::string(target), "/dev/null");
  expect_every_thread_unprivileged(pid);
  auto served = test::who_serves(lb(port));
  ASSERT_TRUE(served.ok()) << served.status().message();
  EXPECT_EQ(*served, "b0");
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_TRUE(test::wait_until([&] {
    auto state = test::proc_status(proc + "/status")["State"];
    return state.empty() || state[0] == 'Z';
  }, 10s));
}

TEST_F(PrivilegesTest, AnUnknownUserExits2WithNothingServed) {
  const uint16_t port = test::free_port();
  auto r = test::run_nib({"-f", "-p", pid_file_, "-u", "no-such-user-for-nib", at(port), at(b0_.port())});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot start: -u no-such-user-for-nib: no such user"), std::string::npos) << r.output;
  EXPECT_FALSE(test::read_file(pid_file_).ok());
  EXPECT_FALSE(TestClient::connect(lb(port), "", 1s).ok());
}

// The user must be able to write the state file's directory: found at start,
// not at the first change.
TEST_F(PrivilegesTest, AStateDirectoryTheUserCannotWriteStopsTheStart) {
  const std::string state = dir_.file("nib.state");  // dir_ is root's, 0755
  auto r = test::run_nib({"-f", "-u", "nobody", "--state", state, at(test::free_port()), at(b0_.port())});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot drop privileges: state file " + state + ": cannot create a file in " +
                          dir_.path() + ": Permission denied (EACCES)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("its directory must be writable by nobody"), std::string::npos) << r.output;
}

// Pen's rule: no control port for root unless nib drops to -u's user;
// --allow-root-control overrides it.
TEST_F(PrivilegesTest, TheControlPortIsRefusedToRootWithoutUser) {
  const uint16_t port = test::free_port(), control = test::free_port();
  auto refused = test::run_nib({"-f", "-C", at(control), at(port), at(b0_.port())});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("cannot start: will not open the control port (-C " + at(control) +
                                ") running as root"),
            std::string::npos)
      << refused.output;
  EXPECT_FALSE(TestClient::connect(lb(port), "", 1s).ok());

  for (const std::string way : {"-u", "--allow-root-control"}) {
    std::vector<std::string> args = {"-C", at(control), at(port), at(b0_.port())};
    if (way == "-u") {
      args.insert(args.begin(), {"-u", "nobody"});
    } else {
      args.insert(args.begin(), way);
    }
    auto nib = test::start_until_pid_file([&] {
      std::vector<std::string> a = {"-f", "-p", pid_file_};
      a.insert(a.end(), args.begin(), args.end());
      return a;
    }(), pid_file_);
    ASSERT_TRUE(nib) << way;
    EXPECT_TRUE(TestClient::connect(lb(control), "", 5s).ok()) << way << ": " << nib->output();
    ASSERT_TRUE(nib->signal(SIGTERM).ok());
    EXPECT_EQ(nib->wait_exit(30s), 0) << nib->output();
    ::unlink(pid_file_.c_str());
  }
}

}  // namespace
}  // namespace nib
