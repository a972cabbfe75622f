#pragma once
// Files and directories under /tmp that live exactly as long as a test needs
// them: created in the constructor, removed in the destructor.
#include <string>
#include <string_view>

#include "dataplane/base/status.h"

namespace nib::test {

class TempFile {
 public:
  // suffix (".yaml", ".pem") is kept at the end of the name: loaders may care.
  explicit TempFile(std::string_view content = "", std::string_view suffix = "");
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  TempFile(TempFile&& o) noexcept;
  TempFile& operator=(TempFile&& o) noexcept;

  const std::string& path() const { return path_; }
  // Replaces the content atomically (write a sibling, rename over): a process
  // watching or re-reading the file never sees it half written.
  Status rewrite(std::string_view content) const;
  std::string read() const;

 private:
  std::string path_;
};

class TempDir {
 public:
  TempDir();
  ~TempDir();  // removes the whole tree
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& o) noexcept;
  TempDir& operator=(TempDir&& o) noexcept;

  const std::string& path() const { return path_; }
  // path() + "/" + name (the file is not created).
  std::string file(std::string_view name) const;
  // Creates (or replaces) path()/name with content; returns its path.
  std::string write_file(std::string_view name, std::string_view content) const;

 private:
  std::string path_;
};

// The whole content of a file; an error when it cannot be read.
Result<std::string> read_file(const std::string& path);
// Writes (truncates) a file; returns an error status on failure.
Status write_file(const std::string& path, std::string_view content);

}  // namespace nib::test
