// The --state file reader (admin/state/state_store): any text gives a state
// or an error, never a crash. What it accepts, check_state() accepts too, and
// it survives a round trip: serialize(parse(x)) parses back to the same text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "admin/state/state_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nib::admin;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_state(text, "fuzz.state");
  if (!parsed.ok()) return 0;
  if (nib::Status st = check_state(*parsed); !st.ok()) {
    std::fprintf(stderr, "parse_state accepted what check_state refuses: %s\n", st.message().c_str());
    std::abort();
  }
  std::string once = serialize_state(*parsed);
  auto again = parse_state(once, "fuzz.state");
  if (!again.ok()) {
    std::fprintf(stderr, "the writer wrote what the reader refuses: %s\n%s", again.status().message().c_str(),
                 once.c_str());
    std::abort();
  }
  if (serialize_state(*again) != once) {
    std::fprintf(stderr, "round trip changed the state:\n%s---\n%s", once.c_str(), serialize_state(*again).c_str());
    std::abort();
  }
  return 0;
}
