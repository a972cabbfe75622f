// nib's YAML configuration loader (server/config/yaml_loader): any text gives
// a configuration or an error naming the source, never a crash, a hang or an
// unbounded allocation. What it accepts passes the dataplane's own validate().
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "dataplane/base/log.h"
#include "server/config/yaml_loader.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nib::Log::set_level(nib::LogLevel::kError);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto loaded = nib::YamlLoader::load_string(text, "fuzz.yaml");
  if (!loaded.ok()) {
    // Every error names the file (and line:column where there is one).
    if (loaded.status().message().rfind("fuzz.yaml", 0) != 0) {
      std::fprintf(stderr, "error without its source: %s\n", loaded.status().message().c_str());
      std::abort();
    }
    return 0;
  }
  if (nib::Status st = nib::validate(loaded->dataplane); !st.ok()) {
    std::fprintf(stderr, "loaded a config validate() refuses: %s\n", st.message().c_str());
    std::abort();
  }
  return 0;
}
