#include "tests/crash/crash_state.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "formats/record.h"
#include "formats/stored_event.h"

namespace eventflow::crash {

namespace {
std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}
bool IsLiveSegment(const std::string& path) {
  return path.size() > 4 && path.compare(path.size() - 4, 4, ".seg") == 0;
}
uint64_t SatMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a)
    return std::numeric_limits<uint64_t>::max();
  return a * b;
}
}  // namespace

std::string Choice::Describe() const {
  std::ostringstream out;
  out << "pages=";
  for (bool b : pages) out << (b ? '1' : '0');
  out << " rocks=";
  for (size_t i = 0; i < rocks_prefix.size(); ++i) out << (i ? "," : "") << rocks_prefix[i];
  out << " dirs=" << dir_prefix;
  if (torn_piece >= 0) out << " torn=" << torn_piece << "@" << torn_bytes;
  return out.str();
}

CrashState::CrashState(const std::vector<Op>& ops, size_t p) {
  // The workload's root and data dir exist, durably, before it starts.
  dirs_.insert("data");
  for (size_t i = 0; i < p && i < ops.size(); ++i) {
    const Op& op = ops[i];
    switch (op.kind) {
      case OpKind::kCreate:
        dir_ops_.push_back({op.kind, op.path, "", op.inode});
        inode_dir_[op.inode] = Parent(op.path);
        inode_name_[op.inode] = op.path;
        break;
      case OpKind::kWrite:
        if (op.file_class == FileClass::kEventFlow) NoteRecords(op);
        AddWrite(op);
        break;
      case OpKind::kSetSize: {
        uint64_t& issued = issued_size_[op.inode];
        issued = op.grow_only ? std::max(issued, op.pos) : op.pos;
        Piece piece{op.inode, true, op.grow_only, true, op.pos, ""};
        if (op.file_class == FileClass::kEventFlow) {
          pages_.push_back(std::move(piece));
        } else {
          auto it = std::find_if(rocks_.begin(), rocks_.end(),
                                 [&](const RocksPending& r) { return r.inode == op.inode; });
          if (it == rocks_.end()) it = rocks_.insert(rocks_.end(), RocksPending{op.inode, {}});
          it->pieces.push_back(std::move(piece));
        }
        break;
      }
      case OpKind::kSync:
        SyncInode(op.inode);
        break;
      case OpKind::kSyncFailed:
        DropPending(op.inode);
        break;
      case OpKind::kRename:
        inode_name_[op.inode] = op.path;
        dir_ops_.push_back({op.kind, op.path, op.from, op.inode});
        break;
      case OpKind::kUnlink:
      case OpKind::kMkdir:
      case OpKind::kRmdir:
        dir_ops_.push_back({op.kind, op.path, op.from, op.inode});
        break;
      case OpKind::kSyncDir:
        SyncDir(op.path);
        break;
      case OpKind::kSyncAll: {
        std::set<uint64_t> inodes;
        for (const Piece& piece : pages_) inodes.insert(piece.inode);
        for (const RocksPending& r : rocks_) inodes.insert(r.inode);
        for (uint64_t inode : inodes) SyncInode(inode);
        for (const DirOp& d : dir_ops_) {
          ApplyDirOp(d, &files_, &dirs_);
          NoteDurableRename(d);
        }
        dir_ops_.clear();
        break;
      }
      case OpKind::kPromise:
        break;
    }
  }
}

void CrashState::NoteRecords(const Op& op) {
  // Writes of records start at a record boundary; zeros and anything else
  // end the walk (those writes just carry no records to count).
  size_t at = 0;
  while (at + record::kHeaderSize <= op.data.size()) {
    record::Header h;
    if (record::DecodeHeader(op.data.data() + at, &h) != record::HeaderCheck::kOk) break;
    const size_t size = record::EncodedSize(h.length);
    if (at + size > op.data.size() || !record::VerifyRecordCrc(op.data.data() + at, h)) break;
    uint64_t& through = written_through_[op.inode];
    through = std::max(through, h.offset + 1);
    const std::string_view payload(op.data.data() + at + record::kHeaderSize, h.length);
    if (auto id = PeekEventId(payload))
      written_ids_[inode_dir_[op.inode]][h.offset].insert(id->ToString());
    at += size;
  }
}

void CrashState::AddWrite(const Op& op) {
  if (op.file_class == FileClass::kRocks) {
    auto it = std::find_if(rocks_.begin(), rocks_.end(),
                           [&](const RocksPending& r) { return r.inode == op.inode; });
    if (it == rocks_.end()) it = rocks_.insert(rocks_.end(), RocksPending{op.inode, {}});
    it->pieces.push_back({op.inode, false, false, true, op.pos, op.data});
    return;
  }
  uint64_t& issued = issued_size_[op.inode];
  const uint64_t size_before = issued;
  issued = std::max(issued, op.pos + op.data.size());
  const std::string& durable = durable_[op.inode];
  uint64_t pos = op.pos;
  size_t at = 0;
  while (at < op.data.size()) {
    const uint64_t page_end = (pos / kPage + 1) * kPage;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(page_end - pos, op.data.size() - at));
    std::string chunk = op.data.substr(at, n);
    // A piece equal to the durable bytes it covers, with no other pending
    // piece of the file over them, changes no state: skipped.
    const bool same_as_durable =
        pos + n <= durable.size() && durable.compare(static_cast<size_t>(pos), n, chunk) == 0;
    const bool overlapped = std::any_of(pages_.begin(), pages_.end(), [&](const Piece& p) {
      return p.inode == op.inode && (p.is_size || (p.pos < pos + n && pos < p.pos + p.data.size()));
    });
    const bool extends = pos + n > size_before;
    if (!same_as_durable || overlapped || extends)
      pages_.push_back({op.inode, false, false, extends, pos, std::move(chunk)});
    pos += n;
    at += n;
  }
}

void CrashState::ApplyPiece(const Piece& piece, size_t keep_bytes, std::string* content) {
  if (piece.is_size) {
    if (!piece.grow_only || content->size() < piece.pos) content->resize(piece.pos, '\0');
    return;
  }
  if (piece.extends && content->size() < piece.pos + piece.data.size())
    content->resize(piece.pos + piece.data.size(), '\0');
  if (piece.pos >= content->size()) return;
  const size_t n =
      std::min({keep_bytes, piece.data.size(), static_cast<size_t>(content->size() - piece.pos)});
  content->replace(piece.pos, n, piece.data, 0, n);
}

void CrashState::SyncInode(uint64_t inode) {
  std::string& content = durable_[inode];
  auto keep = std::stable_partition(pages_.begin(), pages_.end(),
                                    [&](const Piece& p) { return p.inode != inode; });
  for (auto it = keep; it != pages_.end(); ++it) ApplyPiece(*it, it->data.size(), &content);
  pages_.erase(keep, pages_.end());
  auto r = std::find_if(rocks_.begin(), rocks_.end(),
                        [&](const RocksPending& p) { return p.inode == inode; });
  if (r != rocks_.end()) {
    for (const Piece& p : r->pieces) ApplyPiece(p, p.data.size(), &content);
    rocks_.erase(r);
  }
  if (auto w = written_through_.find(inode); w != written_through_.end()) {
    uint64_t& records = synced_records_[inode];
    records = std::max(records, w->second);
    written_through_.erase(w);  // what the next sync covers is written anew
    if (IsLiveSegment(inode_name_[inode])) {
      uint64_t& through = synced_through_[inode_dir_[inode]];
      through = std::max(through, records);
    }
  }
}

void CrashState::DropPending(uint64_t inode) {
  written_through_.erase(inode);  // those records never reach the disk
  pages_.erase(std::remove_if(pages_.begin(), pages_.end(),
                              [&](const Piece& p) { return p.inode == inode; }),
               pages_.end());
  rocks_.erase(std::remove_if(rocks_.begin(), rocks_.end(),
                              [&](const RocksPending& p) { return p.inode == inode; }),
               rocks_.end());
}

void CrashState::SyncDir(const std::string& dir) {
  std::vector<DirOp> still;
  for (DirOp& d : dir_ops_) {
    if (Parent(d.path) == dir) {
      ApplyDirOp(d, &files_, &dirs_);
      NoteDurableRename(d);
    } else {
      still.push_back(std::move(d));
    }
  }
  dir_ops_ = std::move(still);
}

void CrashState::NoteDurableRename(const DirOp& op) {
  if (op.kind != OpKind::kRename || !IsLiveSegment(op.path)) return;
  auto it = synced_records_.find(op.inode);
  if (it == synced_records_.end()) return;
  uint64_t& through = synced_through_[Parent(op.path)];
  through = std::max(through, it->second);
}

void CrashState::ApplyDirOp(const DirOp& op, std::map<std::string, uint64_t>* files,
                            std::set<std::string>* dirs) {
  switch (op.kind) {
    case OpKind::kCreate:
      (*files)[op.path] = op.inode;
      break;
    case OpKind::kRename:
      files->erase(op.from);
      (*files)[op.path] = op.inode;
      break;
    case OpKind::kUnlink:
      files->erase(op.path);
      break;
    case OpKind::kMkdir:
      dirs->insert(op.path);
      break;
    case OpKind::kRmdir:
      dirs->erase(op.path);
      break;
    default:
      break;
  }
}

uint64_t CrashState::Combinations() const {
  uint64_t n = 1;
  for (size_t i = 0; i < pages_.size(); ++i) n = SatMul(n, 2);
  for (const RocksPending& r : rocks_) n = SatMul(n, r.pieces.size() + 1);
  return SatMul(n, dir_ops_.size() + 1);
}

Choice CrashState::Enumerated(uint64_t k) const {
  Choice c;
  for (size_t i = 0; i < pages_.size(); ++i) {
    c.pages.push_back(k % 2 == 1);
    k /= 2;
  }
  for (const RocksPending& r : rocks_) {
    c.rocks_prefix.push_back(static_cast<size_t>(k % (r.pieces.size() + 1)));
    k /= r.pieces.size() + 1;
  }
  c.dir_prefix = static_cast<size_t>(k % (dir_ops_.size() + 1));
  return c;
}

Choice CrashState::Sampled(std::mt19937_64& rng) const {
  Choice c;
  std::vector<int> writes;
  for (size_t i = 0; i < pages_.size(); ++i) {
    c.pages.push_back(rng() % 2 == 1);
    if (c.pages.back() && !pages_[i].is_size && pages_[i].data.size() > kSector)
      writes.push_back(static_cast<int>(i));
  }
  for (const RocksPending& r : rocks_)
    c.rocks_prefix.push_back(static_cast<size_t>(rng() % (r.pieces.size() + 1)));
  c.dir_prefix = static_cast<size_t>(rng() % (dir_ops_.size() + 1));
  if (!writes.empty() && rng() % 4 == 0) {
    c.torn_piece = writes[rng() % writes.size()];
    const size_t sectors = pages_[c.torn_piece].data.size() / kSector;
    c.torn_bytes = kSector * (rng() % sectors);
  }
  return c;
}

Choice CrashState::NothingPending() const {
  Choice c;
  c.pages.assign(pages_.size(), false);
  c.rocks_prefix.assign(rocks_.size(), 0);
  return c;
}

Status CrashState::Materialize(const Choice& choice, const std::string& out_root) const {
  std::map<std::string, uint64_t> files = files_;
  std::set<std::string> dirs = dirs_;
  for (size_t i = 0; i < choice.dir_prefix && i < dir_ops_.size(); ++i)
    ApplyDirOp(dir_ops_[i], &files, &dirs);
  std::map<uint64_t, std::string> content;
  for (const auto& [name, inode] : files) {
    auto it = durable_.find(inode);
    content[inode] = it == durable_.end() ? "" : it->second;
  }
  for (size_t i = 0; i < pages_.size(); ++i) {
    if (i >= choice.pages.size() || !choice.pages[i]) continue;
    auto it = content.find(pages_[i].inode);
    if (it == content.end()) continue;
    const size_t keep =
        static_cast<int>(i) == choice.torn_piece ? choice.torn_bytes : pages_[i].data.size();
    ApplyPiece(pages_[i], keep, &it->second);
  }
  for (size_t j = 0; j < rocks_.size() && j < choice.rocks_prefix.size(); ++j) {
    auto it = content.find(rocks_[j].inode);
    if (it == content.end()) continue;
    for (size_t i = 0; i < choice.rocks_prefix[j]; ++i)
      ApplyPiece(rocks_[j].pieces[i], rocks_[j].pieces[i].data.size(), &it->second);
  }
  std::error_code ec;
  std::filesystem::remove_all(out_root, ec);
  std::filesystem::create_directories(out_root, ec);
  if (ec) return Status::IOError("mkdir " + out_root + ": " + ec.message());
  std::set<std::string> made = {""};
  for (const std::string& dir : dirs) {  // sorted: parents first
    if (!made.count(Parent(dir))) continue;
    std::filesystem::create_directory(out_root + "/" + dir, ec);
    if (ec) return Status::IOError("mkdir " + dir + ": " + ec.message());
    made.insert(dir);
  }
  for (const auto& [name, inode] : files) {
    if (!made.count(Parent(name))) continue;
    std::ofstream f(out_root + "/" + name, std::ios::binary | std::ios::trunc);
    const std::string& bytes = content[inode];
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) return Status::IOError("cannot write " + name);
  }
  return Status::Ok();
}

}  // namespace eventflow::crash
