#include "server/privilege_drop.h"

#include <linux/capability.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/temp_file.h"
#include "tests/support/prerequisites.h"

namespace nib {
namespace {

using ::testing::HasSubstr;

// A drop cannot be undone, so each runs in a forked child; its exit code is
// the number of the first check that failed (0: all passed).
int in_child(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

// The value of a /proc/self/status line ("Uid", "CapEff"), tabs and all.
std::string status_line(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":\t", 0) == 0) return line.substr(key.size() + 2);
  }
  return "";
}

bool nobody_exists() { return ::getpwnam("nobody") != nullptr; }

TEST(PrivilegeDropTest, NothingAskedDoesNothing) {
  auto drop = PrivilegeDrop::prepare({});
  ASSERT_TRUE(drop.ok()) << drop.status().message();
  EXPECT_FALSE(drop->enabled());
  EXPECT_TRUE(drop->apply().ok());
}

TEST(PrivilegeDropTest, AnUnknownUserIsAnErrorThatNamesIt) {
  auto drop = PrivilegeDrop::prepare({.user = "no-such-user-for-nib"});
  ASSERT_FALSE(drop.ok());
  EXPECT_EQ(drop.status().message(),
            "-u no-such-user-for-nib: no such user (the password database has no 'no-such-user-for-nib')");
}

TEST(PrivilegeDropTest, AJailMustBeAnExistingDirectory) {
  test::TempDir dir;
  const std::string file = dir.write_file("f", "x");
  for (const std::string& jail : {dir.file("missing"), file}) {
    auto drop = PrivilegeDrop::prepare({.jail = jail});
    ASSERT_FALSE(drop.ok()) << jail;
    EXPECT_THAT(drop.status().message(), HasSubstr("-j " + jail + ": ")) << jail;
  }
}

TEST(PrivilegeDropTest, DropsToTheUserItsGroupsAndNoCapability) {
  NIB_REQUIRE(::geteuid() == 0 && nobody_exists(), "needs root and the user nobody");
  const passwd* pw = ::getpwnam("nobody");
  const std::string uid = std::to_string(pw->pw_uid), gid = std::to_string(pw->pw_gid);
  EXPECT_EQ(in_child([&] {
              auto drop = PrivilegeDrop::prepare({.user = "nobody"});
              if (!drop.ok()) return 1;
              if (!drop->apply().ok()) return 2;
              if (status_line("Uid") != uid + "\t" + uid + "\t" + uid + "\t" + uid) return 3;
              if (status_line("Gid") != gid + "\t" + gid + "\t" + gid + "\t" + gid) return 4;
              if (status_line("CapEff") != "0000000000000000") return 5;
              if (status_line("CapPrm") != "0000000000000000") return 6;
              if (::setuid(0) == 0 || ::seteuid(0) == 0) return 7;  // no way back
              if (drop->describe().find("user nobody (uid " + uid + ", gid " + gid) != 0) return 8;
              return 0;
            }),
            0);
}

// Only what is asked stays.
TEST(PrivilegeDropTest, KeepsOnlyTheCapabilitiesAskedFor) {
  NIB_REQUIRE(::geteuid() == 0 && nobody_exists(), "needs root and the user nobody");
  EXPECT_EQ(in_child([&] {
              auto drop = PrivilegeDrop::prepare({.user = "nobody", .keep = {Capability::kNetRaw}});
              if (!drop.ok()) return 1;
              if (!drop->apply().ok()) return 2;
              char expected[32];
              std::snprintf(expected, sizeof expected, "%016llx", 1ULL << CAP_NET_RAW);
              if (status_line("CapEff") != expected) return 3;
              if (status_line("CapPrm") != expected) return 4;
              if (::setuid(0) == 0) return 5;
              return 0;
            }),
            0);
}

// The value of a line of thread `tid`'s status.
std::string task_status_line(pid_t tid, const std::string& key) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + ":\t", 0) == 0) return line.substr(key.size() + 2);
  }
  return "";
}

// A thread parked until released, as nib's admin threads are across the drop.
class ParkedThread {
 public:
  ParkedThread() : thread_([this] {
      std::unique_lock lock(mu_);
      tid_ = ::gettid();
      cv_.notify_all();
      cv_.wait(lock, [this] { return done_; });
    }) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return tid_ != 0; });
  }
  ~ParkedThread() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  pid_t tid() const { return tid_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t tid_ = 0;  // under mu_ until the constructor returns; then constant
  bool done_ = false;
  std::thread thread_;
};

// How transparent mode keeps CAP_NET_ADMIN in its workers: a thread running
// at the drop loses every capability, one started between apply() and
// release_kept() holds exactly what was kept (so does its bounding set), and
// the main thread ends with none.
TEST(PrivilegeDropTest, KeptCapabilitiesReachOnlyTheThreadsStartedBeforeReleaseKept) {
  NIB_REQUIRE(::geteuid() == 0 && nobody_exists(), "needs root and the user nobody");
  char admin[32];
  std::snprintf(admin, sizeof admin, "%016llx", 1ULL << CAP_NET_ADMIN);
  const std::string none = "0000000000000000";
  EXPECT_EQ(in_child([&] {
              auto drop = PrivilegeDrop::prepare({.user = "nobody", .keep = {Capability::kNetAdmin}});
              if (!drop.ok()) return 1;
              if (!drop->keeps_capabilities()) return 2;
              ParkedThread before;  // an admin thread: running at the drop
              if (!drop->apply().ok()) return 3;
              if (status_line("CapEff") != admin || status_line("CapPrm") != admin) return 4;
              if (status_line("CapBnd") != admin) return 5;
              if (task_status_line(before.tid(), "CapEff") != none) return 6;
              if (task_status_line(before.tid(), "CapPrm") != none) return 7;
              ParkedThread worker;  // a worker: started after the drop
              if (!drop->release_kept().ok()) return 8;
              if (status_line("CapEff") != none || status_line("CapPrm") != none) return 9;
              for (const char* set : {"CapEff", "CapPrm", "CapBnd"}) {
                if (task_status_line(worker.tid(), set) != admin) return 10;
              }
              for (const char* set : {"CapInh", "CapAmb"}) {
                if (task_status_line(worker.tid(), set) != none) return 11;
              }
              ParkedThread after;  // started once the main thread gave them up
              if (task_status_line(after.tid(), "CapEff") != none) return 12;
              if (drop->describe().find(", keeping CAP_NET_ADMIN") == std::string::npos) return 13;
              if (::setuid(0) == 0) return 14;
              return 0;
            }),
            0);
}

TEST(PrivilegeDropTest, NothingKeptWithoutAUser) {
  auto drop = PrivilegeDrop::prepare({.keep = {Capability::kNetAdmin}});
  ASSERT_TRUE(drop.ok()) << drop.status().message();
  EXPECT_FALSE(drop->keeps_capabilities());
  EXPECT_TRUE(drop->release_kept().ok());
}

TEST(PrivilegeDropTest, ChrootEntersTheJail) {
  NIB_REQUIRE(::geteuid() == 0, "needs root");
  test::TempDir jail;
  jail.write_file("inside", "x");
  EXPECT_EQ(in_child([&] {
              auto drop = PrivilegeDrop::prepare({.jail = jail.path()});
              if (!drop.ok()) return 1;
              // prepare() moved into the jail: relative paths already are in it.
              if (::access("inside", F_OK) != 0) return 2;
              if (!drop->apply().ok()) return 3;
              if (::access("/inside", F_OK) != 0) return 4;
              if (::access(jail.file("inside").c_str(), F_OK) == 0) return 5;  // the outside path is gone
              return 0;
            }),
            0);
}

}  // namespace
}  // namespace nib
