// What the standalone load tools (udp_load, conn_load) share: fatal errors,
// option parsing, target addresses, the clock and the stop flag. Header-only
// and POSIX + the C++ standard library only, so each tool stays one binary
// that measures any proxy the same way.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace load {

using Clock = std::chrono::steady_clock;

inline double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

inline uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// The tool's name in messages; set once by OptionTable before anything can fail.
inline std::string g_program = "load";

[[noreturn]] inline void die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", g_program.c_str(), message.c_str());
  std::exit(2);
}

// "host:port" with an IPv4 literal host; "port" alone means 127.0.0.1.
inline sockaddr_in parse_target(const std::string& text) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  std::string host = "127.0.0.1", port = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int p = std::atoi(port.c_str());
  if (p <= 0 || p > 65535 || ::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
    die("expected an IPv4 host:port, got '" + text + "'");
  }
  a.sin_port = htons(static_cast<uint16_t>(p));
  return a;
}

// Set by SIGINT/SIGTERM once install_stop_handlers() ran; the loops poll it.
inline std::atomic<bool> g_stop{false};

inline void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = [](int) { g_stop.store(true); };
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

// A table of options, each bound to where its value goes. The conversions are
// the lenient C ones (atoi, atof, strtoul): the tools check ranges afterwards.
// --help prints the usage text to stdout and exits 0.
class OptionTable {
 public:
  OptionTable(std::string program, std::string usage) : usage_(std::move(usage)) { g_program = std::move(program); }

  void add(std::string name, std::string* to) {
    with_value(std::move(name), [to](const std::string& v) { *to = v; });
  }
  void add(std::string name, int* to) {
    with_value(std::move(name), [to](const std::string& v) { *to = std::atoi(v.c_str()); });
  }
  void add(std::string name, uint32_t* to) {
    with_value(std::move(name),
               [to](const std::string& v) { *to = static_cast<uint32_t>(std::strtoul(v.c_str(), nullptr, 10)); });
  }
  void add(std::string name, double* to) {
    with_value(std::move(name), [to](const std::string& v) { *to = std::atof(v.c_str()); });
  }
  // An option that takes a value and does more than store it.
  void with_value(std::string name, std::function<void(const std::string&)> apply) {
    options_.push_back({std::move(name), true, std::move(apply)});
  }
  // An option without a value.
  void flag(std::string name, std::function<void()> apply) {
    options_.push_back({std::move(name), false, [apply = std::move(apply)](const std::string&) { apply(); }});
  }

  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        std::fputs(usage_.c_str(), stdout);
        std::exit(0);
      }
      const Option* found = nullptr;
      for (const auto& o : options_) {
        if (o.name == a) found = &o;
      }
      if (found == nullptr) die("unknown option '" + a + "' (try --help)");
      if (!found->takes_value) {
        found->apply("");
        continue;
      }
      if (i + 1 >= argc) die("option " + a + ": expected a value");
      found->apply(argv[++i]);
    }
  }

 private:
  struct Option {
    std::string name;
    bool takes_value;
    std::function<void(const std::string&)> apply;
  };
  std::string usage_;
  std::vector<Option> options_;
};

}  // namespace load
