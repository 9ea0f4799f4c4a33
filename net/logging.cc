#include "net/logging.h"

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <charconv>
#include <chrono>

#include "formats/json_writer.h"
#include "formats/timestamp.h"

namespace eventflow {

namespace {

// The fields of the line being logged on this thread. Set only around a
// synchronous spdlog call, which formats on the calling thread.
thread_local const LogFields* current_fields = nullptr;

std::string_view LevelName(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

std::string TimeOf(const spdlog::details::log_msg& msg) {
  return timestamp::Format(
      std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count());
}

// Printable ASCII and spaces only (most messages): written as they are.
bool IsSafeText(std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

void Append(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

// {"time":"...","level":"info","msg":"...",<fields>}
class JsonLineFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"" + TimeOf(msg) + "\",\"level\":\"";
    line += LevelName(msg.level);
    line += "\",\"msg\":";
    // Messages and values may carry a client's bytes: escaped, so a line
    // is always one line of valid JSON.
    json::AppendUntrustedString(&line, std::string_view(msg.payload.data(), msg.payload.size()));
    if (current_fields != nullptr) {
      for (const auto& f : current_fields->fields()) {
        line += ',';
        json::AppendString(&line, f.key);
        line += ':';
        if (f.quoted) {
          json::AppendUntrustedString(&line, f.value);
        } else {
          line += f.value;
        }
      }
    }
    line += "}\n";
    Append(dest, line);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLineFormatter>();
  }
};

// 2026-11-25T10:00:00.123Z info message key=value key="with space"
class TextFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = TimeOf(msg);
    line += ' ';
    line += LevelName(msg.level);
    line += ' ';
    // A client's bytes (a nack reason, a path) must not start a line of
    // their own or drive the terminal: a message with a control character
    // or invalid UTF-8, and any value that is not a plain token, is written
    // as an escaped JSON string.
    const std::string_view message(msg.payload.data(), msg.payload.size());
    if (IsSafeText(message)) {
      line.append(message);
    } else {
      json::AppendUntrustedString(&line, message);
    }
    if (current_fields != nullptr) {
      for (const auto& f : current_fields->fields()) {
        line += ' ';
        line += f.key;
        line += '=';
        if (!f.quoted || json::IsPlainToken(f.value)) {
          line += f.value;
        } else {
          json::AppendUntrustedString(&line, f.value);
        }
      }
    }
    line += '\n';
    Append(dest, line);
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }
};

template <typename Int>
std::string IntText(Int v) {
  char buf[24];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

}  // namespace

Status ConfigureLogging(std::string_view format, std::string_view level) {
  std::unique_ptr<spdlog::formatter> formatter;
  if (format == "text") {
    formatter = std::make_unique<TextFormatter>();
  } else if (format == "json") {
    formatter = std::make_unique<JsonLineFormatter>();
  } else {
    return Status::InvalidArgument("--log-format must be text or json, not '" +
                                   std::string(format) + "'");
  }
  spdlog::level::level_enum lvl;
  if (level == "trace") {
    lvl = spdlog::level::trace;
  } else if (level == "debug") {
    lvl = spdlog::level::debug;
  } else if (level == "info") {
    lvl = spdlog::level::info;
  } else if (level == "warn") {
    lvl = spdlog::level::warn;
  } else if (level == "error") {
    lvl = spdlog::level::err;
  } else {
    return Status::InvalidArgument("--log-level must be trace, debug, info, warn or error, not '" +
                                   std::string(level) + "'");
  }
  // Logs go to stderr: stdout's first line is "listening on HOST:PORT".
  auto logger = std::make_shared<spdlog::logger>("eventflow",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_formatter(std::move(formatter));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

LogFields& LogFields::Add(std::string_view key, std::string_view value) {
  fields_.push_back({std::string(key), std::string(value), true});
  return *this;
}

LogFields& LogFields::Add(std::string_view key, int64_t value) {
  fields_.push_back({std::string(key), IntText(value), false});
  return *this;
}

LogFields& LogFields::Add(std::string_view key, uint64_t value) {
  fields_.push_back({std::string(key), IntText(value), false});
  return *this;
}

LogFields& LogFields::Add(std::string_view key, double value) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 3).ptr;
  fields_.push_back({std::string(key), std::string(buf, end), false});
  return *this;
}

void LogWith(spdlog::level::level_enum level, const LogFields& fields, std::string_view message) {
  current_fields = &fields;
  spdlog::log(level, "{}", message);
  current_fields = nullptr;
}

}  // namespace eventflow
