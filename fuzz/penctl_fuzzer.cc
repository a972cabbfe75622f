// Pen's control port protocol (admin/penctl/penctl_server): each input is a
// few command lines ("server 0 weight 3\n", "recent 10\n"), executed as the
// listener executes one per connection, against a running Dataplane. Every
// line gets a reply; none crashes, hangs or leaves a state reset() cannot
// undo, and none touches the file system (`web_stats` has no setting to
// change, `write` does not write).
#include <cstdint>
#include <string>
#include <string_view>

#include "admin/penctl/penctl_server.h"
#include "fuzz/fuzz_dataplane.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& dp = nib::fuzz::FuzzDataplane::instance();
  {
    // Never started; `write FILE` renders but writes nothing (inputs name any path).
    nib::admin::PenctlServer server(dp.api(), {.listen = "127.0.0.1:0", .write_files = false});
    std::string_view text(reinterpret_cast<const char*>(data), size);
    while (!text.empty()) {
      size_t end = text.find('\n');
      std::string line(text.substr(0, end));
      text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
      (void)server.execute(line);
    }
  }
  dp.reset();
  return 0;
}
