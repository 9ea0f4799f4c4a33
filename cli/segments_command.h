// `eventflow segments list|dump|verify`: read-only operator commands over a
// data directory's segment files (docs/cli.md). They never take DATA/LOCK nor
// open RocksDB, so they run beside a server. Exit codes: 0 ok, 1 problem found
// (or a missing dir, stream or file), 2 usage.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace eventflow::cli {

struct SegmentsFlags {
  std::string data_dir;
  std::string stream;
  std::string file;
  uint64_t from_offset = 0;
  std::optional<uint64_t> limit;
  bool json = false;
};

int SegmentsList(const SegmentsFlags& flags);
int SegmentsDump(const SegmentsFlags& flags);
int SegmentsVerify(const SegmentsFlags& flags);

// Registers `segments` and its subcommands on `app`; after parsing, Run()
// runs the chosen one and returns its exit code (nullopt if not chosen).
class SegmentsCommand {
 public:
  explicit SegmentsCommand(CLI::App* app);
  SegmentsCommand(const SegmentsCommand&) = delete;
  SegmentsCommand& operator=(const SegmentsCommand&) = delete;
  std::optional<int> Run() const;

 private:
  SegmentsFlags flags_;
  CLI::App* list_ = nullptr;
  CLI::App* dump_ = nullptr;
  CLI::App* verify_ = nullptr;
};

}  // namespace eventflow::cli
