// Pen's command line as nib reads it (server/config/pen_args): any argument
// vector gives a command line or an error, never a crash or a hang. The
// input is the arguments separated by NUL bytes (an argv cannot hold one).
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/base/log.h"
#include "server/config/pen_args.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nib::Log::set_level(nib::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == '\0') {
      args.emplace_back();
    } else {
      args.back() += static_cast<char>(data[i]);
    }
  }
  // --config FILE reads the file: a device or /proc entry could block or
  // never end, which is the kernel's doing, not the parser's.
  for (const auto& a : args) {
    if (a.find("/dev") != std::string::npos || a.find("/proc") != std::string::npos ||
        a.find("/sys") != std::string::npos) {
      return -1;  // not added to the corpus
    }
  }
  auto parsed = nib::PenArgs::parse(args);
  (void)parsed;
  return 0;
}
