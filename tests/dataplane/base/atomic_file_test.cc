#include "dataplane/base/atomic_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/temp_file.h"

namespace nib {
namespace {

TEST(AtomicFileTest, ReplacesTheFileWithTheModeAskedAndLeavesNoTemporary) {
  test::TempDir dir;
  std::string path = dir.file("f");
  ASSERT_TRUE(write_file_atomically(path, "one\n").ok());
  ASSERT_TRUE(write_file_atomically(path, "two\n").ok());
  EXPECT_EQ(*test::read_file(path), "two\n");
  EXPECT_FALSE(test::read_file(path + ".tmp").ok());
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  mode_t old_mask = ::umask(022);
  ASSERT_TRUE(write_file_atomically(dir.file("page"), "<html>", 0644).ok());
  ::umask(old_mask);
  ASSERT_EQ(::stat(dir.file("page").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST(AtomicFileTest, ErrorsNameTheFileAndTheErrno) {
  test::TempDir dir;
  Status st = write_file_atomically(dir.file("missing/f"), "x");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "cannot create " + dir.file("missing/f.tmp") + ": No such file or directory (ENOENT)");
}

TEST(AtomicFileTest, CheckWritableProbesWithoutTouchingTheFile) {
  test::TempDir dir;
  std::string path = dir.write_file("state", "keep me");
  ASSERT_TRUE(check_writable(path).ok());
  EXPECT_EQ(*test::read_file(path), "keep me");
  EXPECT_FALSE(test::read_file(path + ".tmp").ok()) << "the probe is removed";
  EXPECT_TRUE(check_writable(dir.file("not-yet")).ok());
  EXPECT_FALSE(test::read_file(dir.file("not-yet")).ok());

  EXPECT_EQ(check_writable(dir.file("missing/state")).message(),
            "cannot create " + dir.file("missing/state.tmp") + ": No such file or directory (ENOENT)");
  EXPECT_EQ(check_writable(path + "/state").message(),
            "cannot create " + path + "/state.tmp: Not a directory (ENOTDIR)");
  ASSERT_EQ(::mkdir(dir.file("adir").c_str(), 0700), 0);
  EXPECT_EQ(check_writable(dir.file("adir")).message(),
            "cannot replace " + dir.file("adir") + ": Is a directory (EISDIR)");
  ASSERT_EQ(::mkdir((path + ".tmp").c_str(), 0700), 0);
  EXPECT_EQ(check_writable(path).message(), "cannot create " + path + ".tmp: Is a directory (EISDIR)");
}

}  // namespace
}  // namespace nib
