#pragma once
// Replacing a file so that a reader, or a crash at any moment, finds the old
// content or the new, never a mix or nothing: write a temporary file next to
// it, fsync it, rename it over the old one, fsync the directory. Used for the
// state file (admin/state), the pid file and Pen's status page (server/app).
#include <sys/types.h>

#include <functional>
#include <string>
#include <string_view>

#include "dataplane/base/status.h"

namespace nib {

// The steps of a write, for tests that stop a writer between them.
enum class WriteStep { kTempWritten, kTempSynced, kRenamed };

// Writes `content` to path via path + ".tmp" (created with `mode`, less the
// umask). Errors are kUnavailable and name the file and the errno
// ("cannot create /d/f.tmp: No such file or directory (ENOENT)"). `after_step`
// (tests only) runs after each step.
Status write_file_atomically(const std::string& path, std::string_view content, mode_t mode = 0600,
                             const std::function<void(WriteStep)>& after_step = {});

// Whether write_file_atomically(path) can succeed now, without touching path:
// creates, syncs and removes path + ".tmp", and syncs the directory. Also an
// error when path is a directory.
Status check_writable(const std::string& path);

// "the/dir" of "the/dir/file"; "." for a bare name.
std::string directory_of(const std::string& path);

}  // namespace nib
