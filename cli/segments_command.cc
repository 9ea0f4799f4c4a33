#include "cli/segments_command.h"

#include <iostream>

namespace eventflow::cli {

SegmentsCommand::SegmentsCommand(CLI::App* app) {
  auto* segments = app->add_subcommand("segments", "Inspect segment files (read-only)");
  segments->require_subcommand(1);
  SegmentsFlags& f = flags_;

  list_ = segments->add_subcommand("list", "List each stream's segments: offsets, counts, sizes");
  list_->add_option("--data-dir", f.data_dir, "Data directory")->required();
  list_->add_option("--stream", f.stream, "Only this stream (id or name)");
  list_->add_flag("--json", f.json, "Print one JSON document");

  dump_ = segments->add_subcommand("dump", "Print records, one per line");
  dump_->add_option("--data-dir", f.data_dir, "Data directory (with --stream)");
  dump_->add_option("--stream", f.stream, "Stream id or name (with --data-dir)");
  dump_->add_option("FILE", f.file, "A segment file (instead of --data-dir/--stream)");
  dump_->add_option("--from-offset", f.from_offset, "First offset to print");
  dump_->add_option("--limit", f.limit, "Print at most N records");
  dump_->add_flag("--json", f.json, "One JSON object per line");

  verify_ = segments->add_subcommand("verify", "Check every record's CRCs and framing");
  verify_->add_option("--data-dir", f.data_dir, "Data directory: every stream");
  verify_->add_option("FILE", f.file, "A single segment file (instead of --data-dir)");
}

std::optional<int> SegmentsCommand::Run() const {
  auto usage = [](const CLI::App* cmd, const char* what) {
    std::cerr << "eventflow segments " << cmd->get_name() << ": " << what << "\n"
              << "Run with --help for more information.\n";
    return 2;
  };
  const SegmentsFlags& f = flags_;
  if (*list_) return SegmentsList(f);
  if (*dump_) {
    const bool dir = !f.data_dir.empty() || !f.stream.empty();
    if (dir == !f.file.empty()) return usage(dump_, "give --data-dir and --stream, or a FILE");
    if (dir && (f.data_dir.empty() || f.stream.empty())) {
      return usage(dump_, "--data-dir and --stream go together");
    }
    return SegmentsDump(f);
  }
  if (*verify_) {
    if (f.data_dir.empty() == f.file.empty()) return usage(verify_, "give --data-dir or a FILE");
    return SegmentsVerify(f);
  }
  return std::nullopt;
}

}  // namespace eventflow::cli
