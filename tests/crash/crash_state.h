// CrashState: the file system a power loss at position p of an OpLog could
// leave, built from the log alone (the crash model of docs/testing.md):
//  - a completed fdatasync makes the file's earlier writes and size changes
//    durable; a completed directory fsync makes the directory's earlier
//    entries (creates, renames, unlinks, mkdirs) durable; syncfs both;
//  - EventFlow's unsynced writes, split at 4 KiB pages, survive in any
//    subset, applied in write order (a page never durably written reads as
//    zeros); a surviving page may be torn at a 512-byte boundary; unsynced
//    size changes (allocate, truncate, a write past the end) survive in any
//    subset, and a write inside allocated space is seen only within the
//    size that survived;
//  - RocksDB's unsynced appends survive as a prefix per file;
//  - unsynced directory entries survive as a prefix in issue order;
//  - a failed fdatasync loses the file's unsynced pages for good.
// A Choice picks one such state; Materialize writes it to a directory.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "formats/status.h"
#include "tests/crash/op_log.h"

namespace eventflow::crash {

// One state among those possible at a position.
struct Choice {
  std::vector<bool> pages;           // per EventFlow piece: survives
  std::vector<size_t> rocks_prefix;  // per RocksDB file with pending appends
  size_t dir_prefix = 0;             // pending directory entries that survive
  int torn_piece = -1;               // an EventFlow piece that survives torn
  size_t torn_bytes = 0;             // ...keeping this many of its bytes
  std::string Describe() const;
};

class CrashState {
 public:
  static constexpr size_t kPage = 4096;
  static constexpr size_t kSector = 512;

  // The state after ops[0, p): what is durable and what is pending.
  CrashState(const std::vector<Op>& ops, size_t p);

  // How many distinct choices there are (saturating at UINT64_MAX), and the
  // k-th of them (k < Combinations()).
  uint64_t Combinations() const;
  Choice Enumerated(uint64_t k) const;
  // A random choice; may tear one surviving page.
  Choice Sampled(std::mt19937_64& rng) const;
  // The choice where nothing pending survives.
  Choice NothingPending() const;

  // Writes the state of `choice` under `out_root` (paths as in the log).
  Status Materialize(const Choice& choice, const std::string& out_root) const;

  // Per stream directory (e.g. "data/streams/<id>"): one past the largest
  // record offset a completed sync made durable in one of its files.
  const std::map<std::string, uint64_t>& synced_through() const { return synced_through_; }
  // Per stream directory: offset -> the event ids written there before the
  // position (more than one where a failed round's offsets were reused).
  using WrittenIds = std::map<std::string, std::map<uint64_t, std::set<std::string>>>;
  const WrittenIds& written_ids() const { return written_ids_; }
  size_t pending_pieces() const { return pages_.size(); }
  size_t pending_dir_ops() const { return dir_ops_.size(); }
  size_t pending_rocks_files() const { return rocks_.size(); }

 private:
  struct Piece {
    uint64_t inode = 0;
    bool is_size = false;
    bool grow_only = false;
    // A write past the file's size as it was then: its size change goes
    // with its data. A write inside it (space allocated before) changes no
    // size, so past a size that did not survive it is not seen.
    bool extends = true;
    uint64_t pos = 0;  // write offset, or the size
    std::string data;
  };
  struct DirOp {
    OpKind kind;
    std::string path, from;
    uint64_t inode = 0;
  };
  struct RocksPending {
    uint64_t inode;
    std::vector<Piece> pieces;
  };

  void AddWrite(const Op& op);
  void SyncInode(uint64_t inode);
  void DropPending(uint64_t inode);
  void SyncDir(const std::string& dir);
  static void ApplyDirOp(const DirOp& op, std::map<std::string, uint64_t>* files,
                         std::set<std::string>* dirs);
  static void ApplyPiece(const Piece& piece, size_t keep_bytes, std::string* content);
  void NoteRecords(const Op& op);

  std::map<uint64_t, std::string> durable_;   // inode -> durable bytes
  std::map<uint64_t, uint64_t> issued_size_;  // inode -> size as the writer saw it
  std::map<std::string, uint64_t> files_;     // durable names
  std::set<std::string> dirs_;                // durable directories
  std::vector<Piece> pages_;                  // EventFlow pieces, in order
  std::vector<RocksPending> rocks_;           // RocksDB files with pending appends
  std::vector<DirOp> dir_ops_;                // pending, in issue order
  // Records seen in writes per inode since its last sync (max offset + 1),
  // and where the inode was created, for synced_through_.
  std::map<uint64_t, uint64_t> written_through_;
  std::map<uint64_t, std::string> inode_dir_;
  // Per inode: its name as issued, and one past the largest record offset
  // its completed syncs covered. A sync counts for synced_through_ only
  // while the file is a live segment (`<base>.seg`), or once the rename
  // that makes it one (after compaction, relocation, repair) is durable.
  std::map<uint64_t, std::string> inode_name_;
  std::map<uint64_t, uint64_t> synced_records_;
  void NoteDurableRename(const DirOp& op);
  std::map<std::string, uint64_t> synced_through_;
  WrittenIds written_ids_;
};

}  // namespace eventflow::crash
