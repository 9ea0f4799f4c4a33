// Logging: the process's spdlog logger on stderr, as text for people or JSON
// lines for machines (`--log-format`), at `--log-level`; and structured lines
// that carry named fields (a request's correlation_id, trace_id, route, ...).
// spdlog 1.10 has no structured fields, so a small formatter here renders
// them: plain spdlog calls (e.g. from engine/) come out in the same format
// with only time, level and message.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/status.h"

namespace eventflow {

// Installs the stderr logger. `format`: text | json; `level`: trace | debug |
// info | warn | error. InvalidArgument names a bad value.
Status ConfigureLogging(std::string_view format, std::string_view level);

// The named fields of one log line, in order.
class LogFields {
 public:
  LogFields& Add(std::string_view key, std::string_view value);
  LogFields& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  LogFields& Add(std::string_view key, const std::string& value) {
    return Add(key, std::string_view(value));
  }
  LogFields& Add(std::string_view key, int64_t value);
  LogFields& Add(std::string_view key, uint64_t value);
  LogFields& Add(std::string_view key, int value) { return Add(key, int64_t{value}); }
  LogFields& Add(std::string_view key, double value);

  struct Field {
    std::string key;
    std::string value;  // a JSON number's text when !quoted
    bool quoted;
  };
  const std::vector<Field>& fields() const { return fields_; }

 private:
  std::vector<Field> fields_;
};

// Writes `message` with `fields` at `level` (check spdlog::should_log first
// on hot paths, so the fields are not built for nothing).
void LogWith(spdlog::level::level_enum level, const LogFields& fields, std::string_view message);

}  // namespace eventflow
