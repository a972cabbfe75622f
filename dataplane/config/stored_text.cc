#include "dataplane/config/stored_text.h"

#include "dataplane/config/limits.h"

namespace nib {
namespace {

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string hex_byte(unsigned char c) {
  constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[c >> 4] + kDigits[c & 0xf];
}

std::string label(std::string_view field) { return std::string(field) + ": "; }

Status too_long(std::string_view field, std::string_view value, size_t max_bytes) {
  return Status::invalid(label(field) + "at most " + std::to_string(max_bytes) + " bytes, got " +
                         std::to_string(value.size()) + " (" + printable(value) + ")");
}

}  // namespace

std::string printable(std::string_view text, size_t max_bytes) {
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < max_bytes; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (is_control(c) || c >= 0x80) {
      out += "\\x" + hex_byte(c).substr(2);
    } else if (c == '\\' || c == '\'') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += text.size() > max_bytes ? "'..." : "'";
  return out;
}

Status check_text(std::string_view field, std::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) return too_long(field, value, max_bytes);
  for (size_t i = 0; i < value.size(); ++i) {
    auto c = static_cast<unsigned char>(value[i]);
    if (is_control(c)) {
      return Status::invalid(label(field) + "control byte " + hex_byte(c) + " at offset " + std::to_string(i) +
                             " in " + printable(value) + "; expected printable text");
    }
  }
  return {};
}

Status check_host(std::string_view field, std::string_view host) {
  if (host.size() > limits::kHostBytes) return too_long(field, host, limits::kHostBytes);
  for (size_t i = 0; i < host.size(); ++i) {
    auto c = static_cast<unsigned char>(host[i]);
    if (c > 0x20 && c < 0x7f) continue;
    std::string what = c == ' '          ? "a space"
                       : is_control(c) ? "control byte " + hex_byte(c)
                                       : "non-ASCII byte " + hex_byte(c);
    return Status::invalid(label(field) + "expected a host name or IP address, got " + printable(host) + " (" +
                           what + " at offset " + std::to_string(i) + ")");
  }
  return {};
}

Status check_service_name(std::string_view field, std::string_view name) {
  bool ok = !name.empty() && name.size() <= limits::kServiceNameBytes;
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                c == '.' || c == '-');
  }
  if (ok) return {};
  return Status::invalid(label(field) + "expected " + kServiceNameRule + ", got " + printable(name));
}

}  // namespace nib
