#include "admin/common/admin_auth.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace nib::admin {
namespace {

constexpr size_t kMinTokenLength = 16;  // shorter tokens are guessable

bool is_token_char(char c) {
  // RFC 6750 b64token characters, so a token always fits a Bearer header.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

bool ascii_iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

Result<AdminAuth> AdminAuth::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::invalid("admin token file " + path + ": cannot read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::invalid("admin token file " + path + ": cannot read: " + std::strerror(errno));
  return parse(text.str(), path);
}

Result<AdminAuth> AdminAuth::parse(std::string_view text, const std::string& source_name) {
  AdminAuth auth;
  auth.enabled_ = true;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto words = split_words(line);
    if (words.empty()) continue;
    std::string where = "admin token file " + source_name + ":" + std::to_string(line_no) + ": ";
    Role role = Role::kNone;
    if (words[0] == "admin") {
      role = Role::kAdmin;
    } else if (words[0] == "readonly") {
      role = Role::kReadOnly;
    } else {
      // The first word may be a pasted token: never echo it.
      return Status::invalid(where + "expected a line 'admin <token>' or 'readonly <token>'");
    }
    if (words.size() != 2) {
      return Status::invalid(where + "expected exactly one token after '" + words[0] + "'");
    }
    const std::string& secret = words[1];
    if (secret.size() < kMinTokenLength) {
      return Status::invalid(where + "token is shorter than " + std::to_string(kMinTokenLength) + " characters");
    }
    for (char c : secret) {
      if (!is_token_char(c)) {
        return Status::invalid(where + "token has a character outside A-Z a-z 0-9 - . _ ~ + / =");
      }
    }
    for (const auto& t : auth.tokens_) {
      if (t.secret == secret) return Status::invalid(where + "the same token is listed twice");
    }
    auth.tokens_.push_back(Token{secret, role});
  }
  if (auth.tokens_.empty()) {
    return Status::invalid("admin token file " + source_name + ": no tokens; expected lines 'admin <token>' or "
                           "'readonly <token>'");
  }
  return auth;
}

Role AdminAuth::authorize(std::string_view header) const {
  if (!enabled_) return Role::kAdmin;
  constexpr std::string_view kScheme = "bearer";
  if (header.size() <= kScheme.size() || !ascii_iequal(header.substr(0, kScheme.size()), kScheme) ||
      header[kScheme.size()] != ' ') {
    return Role::kNone;
  }
  std::string_view presented = header.substr(kScheme.size() + 1);
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
  // Every token is compared, whatever matched before: the time taken does not
  // tell which token (or how much of one) was right.
  Role granted = Role::kNone;
  for (const auto& t : tokens_) {
    if (constant_time_equal(presented, t.secret)) granted = t.role;
  }
  return granted;
}

}  // namespace nib::admin
