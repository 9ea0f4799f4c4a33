// Operator commands that change or report a data directory's state beyond
// its segment files (docs/cli.md):
//   repair, compact, index rebuild, keys create|revoke  write: they take
//     DATA/LOCK and refuse, saying so, while a server holds it;
//   keys list, streams list  read-only: they run beside a server (RocksDB
//     opened read-only, manifests read as files).
// Exit codes: 0 ok, 1 problem found or left (or the data dir is busy), 2 usage.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eventflow::cli {

struct AdminFlags {
  std::string data_dir;
  std::string stream;
  uint64_t segment_bytes = 128u << 20;
  bool json = false;
  // keys create
  std::string org_id;
  std::string name;
  bool admin = false;
  std::optional<double> rate_limit;
  std::optional<double> burst;
  std::vector<std::string> scopes;  // empty: all three
  // keys revoke
  std::string key_id;
};

int Repair(const AdminFlags& flags);
int Compact(const AdminFlags& flags);
int IndexRebuild(const AdminFlags& flags);
int KeysCreate(const AdminFlags& flags);
int KeysList(const AdminFlags& flags);
int KeysRevoke(const AdminFlags& flags);
int StreamsList(const AdminFlags& flags);

// Registers the commands on `app`; after parsing, Run() runs the chosen one
// and returns its exit code (nullopt if none of them was chosen).
class AdminCommands {
 public:
  explicit AdminCommands(CLI::App* app);
  AdminCommands(const AdminCommands&) = delete;
  AdminCommands& operator=(const AdminCommands&) = delete;
  std::optional<int> Run() const;

 private:
  AdminFlags flags_;
  CLI::App *repair_, *compact_, *index_rebuild_, *keys_create_, *keys_list_, *keys_revoke_,
      *streams_list_;
};

}  // namespace eventflow::cli
