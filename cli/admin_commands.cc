#include "cli/admin_commands.h"

namespace eventflow::cli {

namespace {
CLI::App* WithDataDir(CLI::App* cmd, AdminFlags& f) {
  cmd->add_option("--data-dir", f.data_dir, "Data directory")->required();
  return cmd;
}
}  // namespace

AdminCommands::AdminCommands(CLI::App* app) {
  AdminFlags& f = flags_;
  repair_ = WithDataDir(
      app->add_subcommand("repair",
                          "Truncate torn tails, salvage corrupt segments, re-index (server "
                          "stopped)"),
      f);
  repair_->add_option("--segment-bytes", f.segment_bytes, "Segment size limit of the server");

  compact_ = WithDataDir(
      app->add_subcommand("compact", "Run retention and compaction now (server stopped)"), f);
  compact_->add_option("--stream", f.stream, "Only this stream (id or name)");
  compact_->add_option("--segment-bytes", f.segment_bytes, "Segment size limit of the server");

  auto* index = app->add_subcommand("index", "The RocksDB index");
  index->require_subcommand(1);
  index_rebuild_ =
      WithDataDir(index->add_subcommand(
                      "rebuild", "Rebuild every event lookup from the segments (server stopped)"),
                  f);

  auto* keys = app->add_subcommand("keys", "API keys");
  keys->require_subcommand(1);
  keys_create_ = WithDataDir(keys->add_subcommand("create", "Create a key (server stopped)"), f);
  keys_create_->add_option("--org", f.org_id, "Organization id")->required();
  keys_create_->add_option("--name", f.name, "What the key is for")->required();
  keys_create_->add_flag("--admin", f.admin, "May manage keys and run compaction");
  keys_create_->add_option("--rate-limit", f.rate_limit, "Requests per second (default: none)")
      ->check(CLI::Range(0.001, 1e9));
  keys_create_->add_option("--burst", f.burst, "Token bucket size")->check(CLI::Range(1.0, 1e9));
  keys_create_
      ->add_option("--scopes", f.scopes,
                   "What the key may do: produce, consume, manage (default: all three)")
      ->delimiter(',')
      ->check(CLI::IsMember({"produce", "consume", "manage"}));
  keys_list_ = WithDataDir(keys->add_subcommand("list", "List keys (never their secrets)"), f);
  keys_list_->add_flag("--json", f.json, "One JSON document");
  keys_revoke_ = WithDataDir(keys->add_subcommand("revoke", "Revoke a key (server stopped)"), f);
  keys_revoke_->add_option("KEY_ID", f.key_id, "The api_key_id")->required();

  auto* streams = app->add_subcommand("streams", "Streams");
  streams->require_subcommand(1);
  streams_list_ = WithDataDir(streams->add_subcommand("list", "List streams and their sizes"), f);
  streams_list_->add_flag("--json", f.json, "One JSON document");
}

std::optional<int> AdminCommands::Run() const {
  if (*repair_) return Repair(flags_);
  if (*compact_) return Compact(flags_);
  if (*index_rebuild_) return IndexRebuild(flags_);
  if (*keys_create_) return KeysCreate(flags_);
  if (*keys_list_) return KeysList(flags_);
  if (*keys_revoke_) return KeysRevoke(flags_);
  if (*streams_list_) return StreamsList(flags_);
  return std::nullopt;
}

}  // namespace eventflow::cli
