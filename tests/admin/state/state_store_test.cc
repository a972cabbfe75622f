#include "admin/state/state_store.h"

#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "admin/state/state_writer.h"
#include "dataplane/base/atomic_file.h"
#include "dataplane/dataplane.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_backend.h"
#include "tests/support/test_client.h"

namespace nib::admin {
namespace {

using namespace std::chrono_literals;

SavedState sample() {
  SavedState state;
  SavedService s;
  s.name = "web";
  s.policy.mode = BalanceMode::kRoundRobin;
  s.policy.stubborn = true;
  s.policy.tracking_seconds = 1.5;
  s.policy.table_size = 4096;
  s.policy.connect_timeout_seconds = 7;
  s.policy.idle_timeout_seconds = 45;
  s.policy.max_connections = 9;
  s.policy.pending_max = 12;
  s.policy.idlers = 3;
  SavedBackend first, second;
  first.host = "10.0.0.1";
  first.address = *SocketAddress::parse("10.0.0.1:80");
  first.weight = 3;
  second.address = *SocketAddress::parse("[::1]:81");
  second.prio = 2;
  second.soft_limit = 5;
  second.hard_limit = 9;
  second.proxy_protocol = ProxyProtocol::kV2;
  second.tcp_fast_open = true;
  second.admin_state = AdminState::kDraining;
  s.backends = {first, second};
  s.pins.push_back(SavedPin{*IpPrefix::parse("192.168.0.0/24"), *SocketAddress::parse("10.0.0.1:80")});
  s.client_acl = AccessList({*parse_access_entry("deny 10.1.0.0 255.255.0.255"), *parse_access_entry("permit ::/0"),
                             *parse_access_entry("deny country SE")});
  state.services.push_back(s);
  return state;
}

// A file of an earlier nib has no connection settings: the configuration's
// (or the running) values stay; a newer file's win.
TEST(StateStoreTest, ConnectionSettingsMissingFromTheFileKeepTheConfiguredOnes) {
  PolicyConfig configured;
  configured.connect_timeout_seconds = 2;
  configured.idle_timeout_seconds = 60;
  configured.max_connections = 100;
  configured.pending_max = 50;
  configured.idlers = 2;
  // As an earlier nib wrote it: no connection settings in the policy.
  const std::string text = R"({"version": 2, "services": [{"name": "web",
      "policy": {"mode": "roundrobin", "stubborn": true, "tracking_seconds": 1.5, "blacklist_seconds": 30,
                 "table_size": 4096},
      "backends": [{"address": "10.0.0.1:80", "host": "", "weight": 1, "prio": 0, "soft_limit": 0,
                    "hard_limit": 0, "admin_state": "enabled"}], "pins": []}]})";
  auto parsed = parse_state(text, "old");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << text;
  const SavedService& s = parsed->services[0];
  EXPECT_FALSE(s.has_connect_timeout || s.has_idle_timeout || s.has_max_connections || s.has_pending_max ||
               s.has_idlers);
  PolicyConfig p = saved_policy(s, configured);
  EXPECT_EQ(p.connect_timeout_seconds, 2);
  EXPECT_EQ(p.idle_timeout_seconds, 60);
  EXPECT_EQ(p.max_connections, 100u);
  EXPECT_EQ(p.pending_max, 50u);
  EXPECT_EQ(p.idlers, 2u);
  EXPECT_EQ(p.mode, BalanceMode::kRoundRobin) << "the rest of the saved policy applies";
  PolicyConfig from_new = saved_policy(sample().services[0], configured);
  EXPECT_EQ(from_new.connect_timeout_seconds, 7);
  EXPECT_EQ(from_new.idle_timeout_seconds, 45);
  EXPECT_EQ(from_new.max_connections, 9u);
  EXPECT_EQ(from_new.pending_max, 12u);
  EXPECT_EQ(from_new.idlers, 3u);
}

TEST(StateStoreTest, RoundTrips) {
  std::string text = serialize_state(sample());
  auto parsed = parse_state(text, "state");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(serialize_state(*parsed), text);
  ASSERT_EQ(parsed->services.size(), 1u);
  const SavedService& s = parsed->services[0];
  EXPECT_EQ(s.policy, sample().services[0].policy);
  ASSERT_EQ(s.backends.size(), 2u);
  EXPECT_EQ(s.backends[0].host, "10.0.0.1");
  EXPECT_EQ(s.backends[0].weight, 3u);
  EXPECT_EQ(s.backends[1].host, "");
  EXPECT_EQ(s.backends[1].admin_state, AdminState::kDraining);
  EXPECT_EQ(s.backends[1].hard_limit, 9u);
  EXPECT_EQ(s.backends[0].proxy_protocol, std::nullopt) << "the service's";
  EXPECT_EQ(s.backends[1].proxy_protocol, ProxyProtocol::kV2);
  EXPECT_FALSE(s.backends[0].tcp_fast_open);
  EXPECT_TRUE(s.backends[1].tcp_fast_open);
  ASSERT_EQ(s.pins.size(), 1u);
  EXPECT_EQ(s.pins[0].prefix.to_string(), "192.168.0.0/24");
  EXPECT_EQ(s.client_acl, sample().services[0].client_acl);
}

// The client ACL: absent in files of earlier nibs (the configuration's list
// stays), present and empty when everyone is served; a bad entry is named.
TEST(StateStoreTest, TheClientAclIsKeptAndItsEntriesChecked) {
  auto old = parse_state(R"({"version": 2, "services": [{"name": "web"}]})", "s.state");
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_FALSE(old->services[0].client_acl.has_value());
  auto empty = parse_state(R"({"version": 2, "services": [{"name": "web", "client_acl": {}}]})", "s.state");
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  ASSERT_TRUE(empty->services[0].client_acl.has_value());
  EXPECT_TRUE(empty->services[0].client_acl->empty());
  auto bad = parse_state(
      R"({"version": 2, "services": [{"name": "web", "client_acl": {"entries": ["deny 10.0.0.0/8", "deny x"]}}]})",
      "s.state");
  EXPECT_NE(bad.status().message().find("state file s.state: service 'web': client_acl entry 2: "), std::string::npos)
      << bad.status().message();
  SavedState huge = sample();
  huge.services[0].client_acl = AccessList(std::vector<AccessEntry>(1001, *parse_access_entry("deny 10.0.0.1")));
  EXPECT_NE(check_state(huge).message().find("at most 1000 entries"), std::string::npos);
  DataplaneConfig config;
  config.services.resize(1);
  config.services[0].name = "web";
  config.services[0].client_acl = AccessList({*parse_access_entry("deny 10.9.9.9")});
  apply_to_config(*empty, &config);
  EXPECT_TRUE(config.services[0].client_acl.empty()) << "the saved list wins";
}

// Found by the fuzzer: a hand-edited "-0" read as negative zero was written
// as -0 and read back as 0, so the file changed on its next write.
TEST(StateStoreTest, NegativeZeroSecondsRoundTripAsZero) {
  const std::string v1 =
      "nib-state 1\n"
      "service web\n"
      "policy roundrobin 1 -0 -0 40\n"
      "end\n";
  auto parsed = parse_state(v1, "state");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  std::string once = serialize_state(*parsed);
  EXPECT_EQ(once.find("-0"), std::string::npos) << once;
  auto again = parse_state(once, "state");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(serialize_state(*again), once);
}

TEST(StateStoreTest, WritesVersionTwoAsJson) {
  std::string text = serialize_state(sample());
  EXPECT_EQ(text.rfind("{", 0), 0u) << text;
  EXPECT_NE(text.find("\"version\": 2"), std::string::npos) << text;
  EXPECT_NE(text.find("\"mode\": \"roundrobin\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"address\": \"[::1]:81\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"admin_state\": \"draining\""), std::string::npos) << text;
}

// A file an earlier nib wrote (version 1, the line format) still loads, and
// means exactly what the same state written now means.
TEST(StateStoreTest, AVersionOneFileLoads) {
  const std::string v1 =
      "nib-state 1\n"
      "service web\n"
      "policy roundrobin 1 1.5 30 4096\n"
      "backend 10.0.0.1:80 10.0.0.1 3 0 0 0 enabled\n"
      "backend [::1]:81 - 1 2 5 9 draining\n"
      "pin 192.168.0.0/24 10.0.0.1:80\n"
      "end\n";
  test::TempDir dir;
  const std::string path = dir.file("old.state");
  ASSERT_TRUE(write_file_atomically(path, v1).ok());
  auto loaded = load_state_file(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_TRUE(loaded->has_value());
  SavedState expected = sample();  // less the connection settings and ACL, which version 1 did not have
  SavedService& e = expected.services[0];
  e.has_connect_timeout = e.has_idle_timeout = e.has_max_connections = e.has_pending_max = e.has_idlers = false;
  e.client_acl.reset();
  e.backends[1].proxy_protocol.reset();
  e.backends[1].tcp_fast_open = false;
  EXPECT_EQ(serialize_state(**loaded), serialize_state(expected));
}

TEST(StateStoreTest, VersionTwoRecordsAreCheckedAndNamed) {
  auto bad_version = parse_state(R"({"version": 3, "services": []})", "s.state");
  EXPECT_EQ(bad_version.status().message(),
            "state file s.state: version 3, expected 2 (or a version 1 file, 'nib-state 1')");
  auto unknown = parse_state(R"({"version": 2, "colour": "blue"})", "s.state");
  EXPECT_NE(unknown.status().message().find("state file s.state: not a state file: "), std::string::npos)
      << unknown.status().message();
  auto bad_backend = parse_state(
      R"({"version": 2, "services": [{"name": "web", "backends": [{"address": "10.0.0.1:80", "weight": 1,)"
      R"( "admin_state": "enabled"}, {"address": "10.0.0.1:80", "weight": 1, "admin_state": "enabled"}]}]})",
      "s.state");
  EXPECT_NE(bad_backend.status().message().find("state file s.state: service 'web': backend 2: "),
            std::string::npos)
      << bad_backend.status().message();
  auto bad_state = parse_state(
      R"({"version": 2, "services": [{"name": "web", "backends": [{"address": "10.0.0.1:80", "admin_state": "x"}]}]})",
      "s.state");
  EXPECT_EQ(bad_state.status().message(), "state file s.state: service 'web': backend 1: unknown admin_state 'x'");
  auto bad_proxy = parse_state(
      R"({"version": 2, "services": [{"name": "web", "backends": [{"address": "10.0.0.1:80", "admin_state": )"
      R"("enabled", "proxy_protocol": "v9"}]}]})",
      "s.state");
  EXPECT_EQ(bad_proxy.status().message(), "state file s.state: service 'web': backend 1: unknown proxy_protocol 'v9'");
}

TEST(StateStoreTest, CorruptOrCutShortIsAnErrorNamingTheLine) {
  std::string text = serialize_state(sample());
  auto cut = parse_state(text.substr(0, text.size() - 4), "s.state");
  EXPECT_EQ(cut.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cut.status().message().find("state file s.state: not a state file: "), std::string::npos)
      << cut.status().message();
  auto cut_v1 = parse_state("nib-state 1\nservice web\n", "s.state");
  EXPECT_NE(cut_v1.status().message().find("cut short"), std::string::npos) << cut_v1.status().message();
  auto bad = parse_state("nib-state 1\nservice web\nbackend 10.0.0.1:80 - x 0 0 0 enabled\nend\n", "s.state");
  EXPECT_NE(bad.status().message().find("s.state:3:"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(parse_state("garbage\n", "s").ok());
  EXPECT_FALSE(parse_state("", "s").ok());
  EXPECT_FALSE(parse_state("nib-state 1\nend\nservice web\n", "s").ok());
}

// The reader applies the API's rules, naming file:line; the writer's check
// refuses the same states, so it cannot save what the reader would refuse.
TEST(StateStoreTest, RecordsTheApiWouldRefuseAreRefusedWithTheirLine) {
  const std::string head = "nib-state 1\nservice web\npolicy affinity 0 0 30 2048\n";
  struct Case {
    std::string body;  // from line 4 on
    std::string message;
  };
  const std::string b80 = "backend 10.0.0.1:80 - 1 0 0 0 enabled\n";
  const std::vector<Case> cases = {
      {b80 + b80, "s:5: backend 10.0.0.1:80: listed twice"},
      {"backend 10.0.0.1:0 - 1 0 0 0 enabled\n",
       "s:4: backend 10.0.0.1:0: backend address must be an IP address with a port 1-65535"},
      {"backend 10.0.0.1:80 - 10001 0 0 0 enabled\n", "s:4: backend 10.0.0.1:80: weight must be 0-10000"},
      {"backend 10.0.0.1:80 10.0.0.1" + std::string(1, '\0') + "evil 1 0 0 0 enabled\n",
       "s:4: backend 10.0.0.1:80: host: expected a host name or IP address, got '10.0.0.1\\x00evil' "
       "(control byte 0x00 at offset 8)"},
      {"backend 10.0.0.1:80 " + std::string(254, 'h') + " 1 0 0 0 enabled\n",
       "s:4: backend 10.0.0.1:80: host: at most 253 bytes, got 254"},
      {b80 + "pin 10.1.0.0/16 10.0.0.1:80\npin 10.1.0.0/16 10.0.0.1:80\n", "s:6: pin 10.1.0.0/16: pinned twice"},
      {"service web\n", "s:4: service 'web' is saved twice"},
      {"service b\x7f" "d\n",
       "s:4: service name: expected a name of 1-64 letters, digits, '_', '.' or '-', got 'b\\x7fd'"},
      {"policy affinity 0 nan 30 2048\n", "s:4: policy: tracking_seconds must be seconds 0-1e9"},
      {"backend 10.0.0.1:80 - 1 0 0 0 enabled\r\n", "s:4: malformed backend line"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_state(head + c.body + "end\n", "s");
    ASSERT_FALSE(parsed.ok()) << c.body;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("state file " + c.message), std::string::npos)
        << parsed.status().message();
  }
}

TEST(StateStoreTest, CheckStateRefusesWhatTheReaderRefuses) {
  EXPECT_TRUE(check_state(sample()).ok());
  auto refused = [](auto change) {
    SavedState s = sample();
    change(s);
    Status st = check_state(s);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    // And what it refuses does not read back either.
    EXPECT_FALSE(parse_state(serialize_state(s), "s").ok()) << serialize_state(s);
    return st.message();
  };
  EXPECT_EQ(refused([](SavedState& s) { s.services[0].backends[0].host = "127.0.0.1\n service x"; }),
            "service 'web': backend 10.0.0.1:80: host: expected a host name or IP address, got "
            "'127.0.0.1\\x0a service x' (control byte 0x0a at offset 9)");
  EXPECT_EQ(refused([](SavedState& s) { s.services[0].backends[1] = s.services[0].backends[0]; }),
            "service 'web': backend 10.0.0.1:80: listed twice in the service");
  EXPECT_EQ(refused([](SavedState& s) { s.services[0].backends[0].address.set_port(0); }),
            "service 'web': backend 10.0.0.1:0: backend address must be an IP address with a port 1-65535");
  EXPECT_EQ(refused([](SavedState& s) { s.services.push_back(s.services[0]); }), "service 'web' is saved twice");
  EXPECT_EQ(refused([](SavedState& s) { s.services[0].name = "my web"; }),
            "service name: expected a name of 1-64 letters, digits, '_', '.' or '-', got 'my web'");
  EXPECT_EQ(refused([](SavedState& s) { s.services[0].pins.push_back(s.services[0].pins[0]); }),
            "service 'web': pin 192.168.0.0/24: pinned twice");
  EXPECT_EQ(refused([](SavedState& s) { s.services[0].policy.blacklist_seconds = NAN; }),
            "service 'web': policy: blacklist_seconds must be seconds 0-1e9, got nan");
}

TEST(StateStoreTest, MissingFileIsAFirstStart) {
  auto loaded = load_state_file("/nonexistent-dir/nib.state");
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

// A writer that dies after any step leaves a whole file under the real name:
// the old one before the rename, the new one after.
TEST(StateStoreTest, CrashBetweenWriteStepsKeepsAWholeFile) {
  test::TempDir dir;
  std::string path = dir.file("nib.state");
  std::string old_text = serialize_state(sample());
  ASSERT_TRUE(write_file_atomically(path, old_text).ok());
  SavedState next = sample();
  next.services[0].backends.pop_back();
  std::string new_text = serialize_state(next);
  for (WriteStep crash_at : {WriteStep::kTempWritten, WriteStep::kTempSynced, WriteStep::kRenamed}) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      (void)write_file_atomically(path, new_text, 0600, [&](WriteStep step) {
        if (step == crash_at) ::_exit(0);  // no cleanup, like a crash
      });
      ::_exit(1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    auto loaded = load_state_file(path);
    ASSERT_TRUE(loaded.ok() && loaded->has_value()) << loaded.status().message();
    EXPECT_EQ(serialize_state(**loaded), crash_at == WriteStep::kRenamed ? new_text : old_text);
    if (crash_at != WriteStep::kRenamed) {
      ASSERT_TRUE(write_file_atomically(path, old_text).ok());
    }
  }
}

class StateRestoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Dataplane> make_dataplane(const SavedState* saved = nullptr) {
    ServiceConfig s;
    s.name = "web";
    s.listen = *SocketAddress::parse("127.0.0.1:0");
    for (auto* b : {&b0_, &b1_}) {
      BackendConfig c;
      c.address = b->address();
      c.host = "127.0.0.1";
      s.backends.push_back(c);
    }
    DataplaneConfig config;
    config.workers = 1;
    config.services = {s};
    if (saved) apply_to_config(*saved, &config);
    auto dp = std::make_unique<Dataplane>(config);
    EXPECT_TRUE(dp->start().ok());
    return dp;
  }
  test::TestBackend b0_{"b0"}, b1_{"b1"}, b2_{"b2"};
};

TEST_F(StateRestoreTest, ChangesSurviveIntoAFreshDataplane) {
  test::TempDir dir;
  std::string path = dir.file("nib.state");
  {
    auto dp = make_dataplane();
    StateWriter writer(*dp, path);
    writer.start();
    auto list = dp->service("web")->backends;
    BackendConfig added;
    added.address = b2_.address();
    added.host = "127.0.0.1";
    auto b2 = dp->add_backend("web", added);
    ASSERT_TRUE(b2.ok());
    ASSERT_TRUE(dp->remove_backend("web", list[0].id).ok());
    ASSERT_TRUE(dp->drain_backend("web", list[1].id).ok());
    BackendPatch heavier;
    heavier.weight = 7;
    heavier.proxy_protocol = ProxyProtocol::kV1;
    heavier.tcp_fast_open = true;
    ASSERT_TRUE(dp->update_backend("web", b2->id, heavier).ok());
    ASSERT_TRUE(dp->pin_clients("web", *IpPrefix::parse("10.1.0.0/16"), b2->id).ok());
    PolicyConfig policy = *dp->policy("web");
    policy.mode = BalanceMode::kHash;
    ASSERT_TRUE(dp->set_policy("web", policy).ok());
    // Acknowledged means on disk: the file has the last change at once.
    ASSERT_TRUE(writer.commit().ok());
    auto text = test::read_file(path);
    ASSERT_TRUE(text.ok());
    EXPECT_NE(text->find("hash"), std::string::npos) << *text;
    EXPECT_NE(text->find("\"prefix\": \"10.1.0.0/16\""), std::string::npos) << *text;
    dp->stop();
  }
  auto loaded = load_state_file(path);
  ASSERT_TRUE(loaded.ok() && loaded->has_value()) << loaded.status().message();
  auto dp = make_dataplane();
  std::vector<std::string> skipped;
  Status st = restore_state(*dp, **loaded, &skipped);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(skipped.empty());
  auto backends = dp->service("web")->backends;
  ASSERT_EQ(backends.size(), 2u);
  EXPECT_EQ(backends[0].address, b1_.address());
  EXPECT_EQ(backends[0].admin_state, AdminState::kDraining);
  EXPECT_EQ(backends[1].address, b2_.address());
  EXPECT_EQ(backends[1].weight, 7u);
  EXPECT_EQ(backends[1].proxy_protocol, ProxyProtocol::kV1);
  EXPECT_EQ(backends[0].proxy_protocol, std::nullopt);
  EXPECT_TRUE(backends[1].tcp_fast_open);
  EXPECT_FALSE(backends[0].tcp_fast_open);
  EXPECT_EQ(dp->policy("web")->mode, BalanceMode::kHash);
  auto pins = dp->pins("web");
  ASSERT_TRUE(pins.ok());
  ASSERT_EQ(pins->size(), 1u);
  EXPECT_EQ((*pins)[0].backend_id, backends[1].id);
  dp->stop();
}

// How nib starts: the saved backends and policy go into the configuration
// (no window where a removed backend takes clients), drains and pins after.
TEST_F(StateRestoreTest, AppliedToTheConfigurationBeforeStart) {
  SavedState state;
  SavedService s;
  s.name = "web";
  s.policy.mode = BalanceMode::kWeight;
  SavedBackend kept, added;
  kept.address = b1_.address();
  kept.admin_state = AdminState::kDraining;
  added.address = b2_.address();
  added.host = "127.0.0.1";
  added.weight = 5;
  s.backends = {kept, added};
  state.services = {s};
  auto dp = make_dataplane(&state);
  auto before = dp->service("web")->backends;
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(before[0].address, b1_.address());
  EXPECT_EQ(before[0].host, "127.0.0.1") << "the configured host is kept";
  EXPECT_EQ(before[1].weight, 5u);
  EXPECT_EQ(dp->policy("web")->mode, BalanceMode::kWeight);
  ASSERT_TRUE(restore_state(*dp, state).ok());
  auto after = dp->service("web")->backends;
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].id, before[0].id) << "nothing re-added";
  EXPECT_EQ(after[0].admin_state, AdminState::kDraining);
  dp->stop();
}

TEST_F(StateRestoreTest, UnknownServicesAreSkipped) {
  auto dp = make_dataplane();
  SavedState state = sample();
  state.services[0].name = "gone";
  std::vector<std::string> skipped;
  EXPECT_TRUE(restore_state(*dp, state, &skipped).ok());
  EXPECT_EQ(skipped, std::vector<std::string>{"gone"});
  EXPECT_EQ(dp->service("web")->backends.size(), 2u);
  dp->stop();
}

// Backends a discovery added (source "dns") follow their DNS records: the
// state file must not make them permanent, nor their pins.
TEST_F(StateRestoreTest, DiscoveredBackendsAreNotSaved) {
  auto dp = make_dataplane();
  BackendConfig found;
  found.address = b2_.address();
  found.host = "web.example";
  found.source = "dns";
  auto added = dp->add_backend("web", found);
  ASSERT_TRUE(added.ok()) << added.status().message();
  EXPECT_EQ(added->source, "dns");
  EXPECT_EQ(dp->backend("web", added->id)->source, "dns");
  ASSERT_TRUE(dp->pin_clients("web", *IpPrefix::parse("10.9.0.0/16"), added->id).ok());
  SavedState state = capture_state(*dp);
  ASSERT_EQ(state.services.size(), 1u);
  ASSERT_EQ(state.services[0].backends.size(), 2u);
  EXPECT_EQ(state.services[0].backends[0].address, b0_.address());
  EXPECT_EQ(state.services[0].backends[1].address, b1_.address());
  EXPECT_TRUE(state.services[0].pins.empty());
  // The configured ones are no one's discovery.
  EXPECT_EQ(dp->service("web")->backends[0].source, "");
  dp->stop();
}

}  // namespace
}  // namespace nib::admin
