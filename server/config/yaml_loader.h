#pragma once
// Reads nib's YAML configuration. Every error names the file, line and column
// and what was expected: "nib.yaml:12:7: backends[1].port: expected an integer 1-65535, got 'http'".
#include <string>
#include <string_view>

#include "dataplane/base/status.h"
#include "server/config/app_config.h"

namespace nib {

class YamlLoader {
 public:
  // Loads and validates a file. The result's config_path is `path`.
  static Result<AppConfig> load_file(const std::string& path);
  // Same, from text; `source_name` stands for the file name in messages.
  static Result<AppConfig> load_string(std::string_view text, const std::string& source_name);
};

}  // namespace nib
