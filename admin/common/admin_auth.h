#pragma once
// Bearer-token authentication for the admin plane, shared by the REST API
// (Authorization header) and the gRPC API (authorization metadata). Tokens come
// from a file of lines "admin <token>" or "readonly <token>" ('#' starts a
// comment).
// Reads need a read-only or an admin token, changes need an admin token.
// Token text never appears in errors or logs: messages name lines only.
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/base/status.h"

namespace nib::admin {

enum class Role { kNone, kReadOnly, kAdmin };

class AdminAuth {
 public:
  // No file: every request is let in as admin.
  AdminAuth() = default;
  // Errors name the file and line: unreadable, unknown role, missing or
  // malformed token, a token given twice, no token at all.
  static Result<AdminAuth> load_file(const std::string& path);
  static Result<AdminAuth> parse(std::string_view text, const std::string& source_name);

  bool enabled() const { return enabled_; }

  // The role an "Authorization" header value grants ("Bearer <token>").
  // kAdmin when auth is disabled; kNone for a missing, malformed or unknown
  // token. Compares in constant time with respect to token contents.
  Role authorize(std::string_view authorization_header) const;

  size_t token_count() const { return tokens_.size(); }

 private:
  struct Token {
    std::string secret;
    Role role;
  };
  bool enabled_ = false;
  std::vector<Token> tokens_;
};

// Equal without an early exit on the first differing byte (only the lengths
// leak through timing, which says nothing about a token's contents).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace nib::admin
