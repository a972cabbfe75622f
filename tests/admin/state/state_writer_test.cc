#include "admin/state/state_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "admin/state/state_store.h"
#include "dataplane/dataplane.h"
#include "tests/support/temp_file.h"
#include "tests/support/test_client.h"

namespace nib::admin {
namespace {

using namespace std::chrono_literals;

class StateWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServiceConfig s;
    s.name = "web";
    s.listen = *SocketAddress::parse("127.0.0.1:0");
    s.backends.push_back(backend(1));
    DataplaneConfig config;
    config.workers = 1;
    config.services = {s};
    dp_ = std::make_unique<Dataplane>(config);
    ASSERT_TRUE(dp_->start().ok());
    path_ = dir_.file("nib.state");
  }
  void TearDown() override {
    writer_.reset();
    dp_->stop();
  }

  static BackendConfig backend(int n) {
    BackendConfig c;
    c.address = *SocketAddress::parse("127.0.0.1:" + std::to_string(20000 + n));
    c.host = "127.0.0.1";
    return c;
  }
  void start_writer(StateWriterOptions options = {}) {
    writer_ = std::make_unique<StateWriter>(*dp_, path_, std::move(options));
    writer_->start();
  }
  uint32_t add(int n) {
    auto added = dp_->add_backend("web", backend(n));
    EXPECT_TRUE(added.ok()) << added.status().message();
    return added.ok() ? added->id : 0;
  }
  // The ports the state file holds now.
  std::string saved() {
    auto text = test::read_file(path_);
    return text.ok() ? *text : "(no file)";
  }
  static bool has(const std::string& text, int n) {
    return text.find("\"127.0.0.1:" + std::to_string(20000 + n) + "\"") != std::string::npos;
  }
  // Writes fail while the temporary file's name is taken by a directory.
  void break_disk() { ASSERT_EQ(::mkdir((path_ + ".tmp").c_str(), 0700), 0); }
  void mend_disk() { ASSERT_EQ(::rmdir((path_ + ".tmp").c_str()), 0); }

  test::TempDir dir_;
  std::string path_;
  std::unique_ptr<Dataplane> dp_;
  std::unique_ptr<StateWriter> writer_;
};

TEST_F(StateWriterTest, ACommittedChangeIsOnDiskWhenCommitReturns) {
  start_writer();
  EXPECT_TRUE(writer_->commit().ok()) << "nothing changed: nothing to wait for";
  EXPECT_EQ(writer_->writes(), 0u);
  add(2);
  ASSERT_TRUE(writer_->commit().ok());
  EXPECT_TRUE(has(saved(), 2)) << saved();
  uint32_t id = add(3);
  ASSERT_TRUE(dp_->remove_backend("web", id).ok());
  ASSERT_TRUE(writer_->commit().ok());
  EXPECT_FALSE(has(saved(), 3)) << saved();
  auto loaded = load_state_file(path_);
  ASSERT_TRUE(loaded.ok() && loaded->has_value());
  EXPECT_EQ((*loaded)->services[0].backends.size(), 2u);
  EXPECT_FALSE(test::read_file(path_ + ".tmp").ok()) << "the temporary file was renamed";
}

// Changes made while a write runs are covered by the next write, together:
// a burst costs two writes, not one per change.
TEST_F(StateWriterTest, ABurstOfChangesIsGroupCommittedIntoOneWrite) {
  std::mutex mu;
  std::condition_variable cv;
  bool in_write = false, release = false;
  StateWriterOptions options;
  options.after_step = [&](WriteStep step) {
    if (step != WriteStep::kTempWritten) return;
    std::unique_lock lock(mu);
    if (release) return;
    in_write = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  start_writer(options);
  add(2);
  Status first;
  std::thread first_committer([&] { first = writer_->commit(); });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return in_write; }));
  }
  constexpr int kBurst = 16;
  for (int i = 0; i < kBurst; ++i) add(10 + i);
  std::vector<Status> results(kBurst);
  std::vector<std::thread> committers;
  for (int i = 0; i < kBurst; ++i) committers.emplace_back([&, i] { results[i] = writer_->commit(); });
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  first_committer.join();
  for (auto& t : committers) t.join();
  EXPECT_TRUE(first.ok()) << first.message();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(writer_->writes(), 2u);
  std::string text = saved();
  for (int i = 0; i < kBurst; ++i) EXPECT_TRUE(has(text, 10 + i)) << text;
}

TEST_F(StateWriterTest, AFailedWriteAnswersUnavailableAndHealthRecoversWithTheDisk) {
  StateWriterOptions options;
  options.retry_interval = 10ms;
  start_writer(options);
  break_disk();
  add(2);
  Status st = writer_->commit();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("the change is applied but not saved"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(path_ + ".tmp: Is a directory (EISDIR)"), std::string::npos) << st.message();
  EXPECT_EQ(writer_->health().code(), StatusCode::kUnavailable);
  EXPECT_FALSE(has(saved(), 2));
  // No new change: the retry saves it once the disk is back.
  mend_disk();
  ASSERT_TRUE(test::wait_until([&] { return writer_->health().ok(); }, 10s)) << writer_->health().message();
  EXPECT_TRUE(has(saved(), 2)) << saved();
  EXPECT_TRUE(writer_->commit().ok());
}

TEST_F(StateWriterTest, ALaterSuccessfulChangeRecovers) {
  StateWriterOptions options;
  options.retry_interval = 1h;  // only a change makes it write again
  start_writer(options);
  break_disk();
  add(2);
  EXPECT_FALSE(writer_->commit().ok());
  EXPECT_FALSE(writer_->commit().ok()) << "still not on disk";
  mend_disk();
  add(3);
  EXPECT_TRUE(writer_->commit().ok());
  EXPECT_TRUE(writer_->health().ok());
  EXPECT_TRUE(has(saved(), 2) && has(saved(), 3)) << saved();
}

TEST_F(StateWriterTest, StopWritesWhatIsPendingThenRefusesToAcknowledge) {
  start_writer();
  add(2);
  writer_->stop();
  EXPECT_TRUE(has(saved(), 2)) << saved();
  add(3);
  Status st = writer_->commit();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("nib is stopping"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace nib::admin
