#include "tests/support/temp_file.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "dataplane/base/unique_fd.h"

namespace nib::test {
namespace {

Status write_all_fd(int fd, std::string_view content) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::internal(std::string("write: ") + std::strerror(errno));
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::not_found("open " + path + ": " + std::strerror(errno));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::internal("read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

Status write_file(const std::string& path, std::string_view content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Status::internal("open " + path + ": " + std::strerror(errno));
  return write_all_fd(fd.get(), content);
}

TempFile::TempFile(std::string_view content, std::string_view suffix) {
  std::string templ = "/tmp/nib-test-XXXXXX" + std::string(suffix);
  UniqueFd fd(::mkostemps(templ.data(), static_cast<int>(suffix.size()), O_CLOEXEC));
  // A test cannot proceed without its file; gtest reports the exception.
  if (!fd) throw std::runtime_error(std::string("mkstemps: ") + std::strerror(errno));
  path_ = templ;
  Status st = write_all_fd(fd.get(), content);
  if (!st.ok()) throw std::runtime_error(st.message());
}

TempFile::~TempFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

TempFile::TempFile(TempFile&& o) noexcept : path_(std::exchange(o.path_, {})) {}

TempFile& TempFile::operator=(TempFile&& o) noexcept {
  if (this != &o) {
    if (!path_.empty()) ::unlink(path_.c_str());
    path_ = std::exchange(o.path_, {});
  }
  return *this;
}

Status TempFile::rewrite(std::string_view content) const {
  std::string tmp = path_ + ".new";
  Status st = write_file(tmp, content);
  if (!st.ok()) return st;
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::internal("rename " + tmp + ": " + std::strerror(errno));
  }
  return {};
}

std::string TempFile::read() const {
  auto r = read_file(path_);
  return r.ok() ? *r : std::string();
}

TempDir::TempDir() {
  char templ[] = "/tmp/nib-test-dir-XXXXXX";
  if (::mkdtemp(templ) == nullptr) {
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  }
  path_ = templ;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;  // never throw from a destructor
  std::filesystem::remove_all(path_, ec);
}

TempDir::TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& o) noexcept {
  if (this != &o) {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
    path_ = std::exchange(o.path_, {});
  }
  return *this;
}

std::string TempDir::file(std::string_view name) const { return path_ + "/" + std::string(name); }

std::string TempDir::write_file(std::string_view name, std::string_view content) const {
  std::string p = file(name);
  Status st = test::write_file(p, content);
  if (!st.ok()) throw std::runtime_error(st.message());
  return p;
}

}  // namespace nib::test
