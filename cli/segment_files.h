// Read-only access to a data directory's segment files for the operator
// commands: finds streams (by id or manifest name) and their segment files,
// and reads a file's bytes with pread. Never takes DATA/LOCK, never opens
// RocksDB, never writes, so it is safe beside a running server.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/manifest.h"
#include "engine/segment_scan.h"
#include "formats/status.h"

namespace eventflow::cli {

enum class SegmentState { kSealed, kActive, kQuarantined };
const char* SegmentStateName(SegmentState state);

struct SegmentFile {
  std::string path;
  std::string name;  // file name only
  uint64_t base_offset = 0;
  SegmentState state = SegmentState::kSealed;
  uint64_t file_size = 0;  // at listing time
  // Base of the next live segment, if any: records must stay below it.
  std::optional<uint64_t> next_base;
};

struct StreamFiles {
  std::string dir;
  std::string dir_name;              // the stream id as the directory spells it
  std::optional<Manifest> manifest;  // nullopt: unreadable (reason in manifest_error)
  std::string manifest_error;
  // Live segments in log order (the last one is active), then quarantined ones.
  std::vector<SegmentFile> files;
};

// Every stream directory under DATA/streams, sorted by id. NotFound if the
// data dir or its streams/ directory does not exist.
Result<std::vector<StreamFiles>> ListStreams(const std::string& data_dir);
// The one stream whose id or manifest name is `which`. NotFound if none,
// InvalidArgument if a name matches streams of several orgs.
Result<StreamFiles> FindStream(const std::string& data_dir, const std::string& which);
// A single segment file given by path; its state is unknown to the caller,
// so it counts as active unless the name says quarantined.
Result<SegmentFile> SingleFile(const std::string& path);

// The bytes of one segment file. A sealed segment never changes in place
// (compaction and repair rename a new file over it; retention unlinks it, and
// a mapping outlives both), so it is mapped with mmap, no copy. Any other file
// is read once with pread (a snapshot: a server may be appending to it or
// truncating it as it seals, which under mmap would be SIGBUS).
class FileBytes {
 public:
  FileBytes() = default;
  ~FileBytes() { Unmap(); }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  Status Load(const SegmentFile& file);
  const char* data() const { return map_ != nullptr ? map_ : buf_.get(); }
  size_t size() const { return size_; }

 private:
  Status Read(int fd, const std::string& path, size_t want);
  void Unmap();

  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t size_ = 0;
  const char* map_ = nullptr;
  size_t map_len_ = 0;
};

// Where a scan's first bad record is. ScanSegment reports the start of what
// recovery drops (the batch holding the bad record); this walks the valid
// records from there to the record that is actually bad.
struct BadRecord {
  uint64_t batch_pos = 0;  // ScanResult::bad_pos
  uint64_t pos = 0;        // the first record at or after batch_pos that fails alone
  // The record's offset; when its header cannot be trusted, the last good
  // record's offset + 1 (or the base offset), and offset_from_header is false.
  uint64_t offset = 0;
  bool offset_from_header = false;
  uint64_t batch_offset = 0;  // offset of the record at batch_pos, by the same rule
  uint64_t tail_records = 0;  // valid records from batch_pos to pos
};
BadRecord LocateBad(const FileBytes& bytes, const SegmentFile& file, const ScanResult& scan);

// Scans `bytes` of `file`. Unlike ScanSegment alone, fewer than 40 zero bytes
// left at the end (a preallocated segment filled to within a header of its
// capacity) are a clean end, not a cut header.
ScanResult Scan(const FileBytes& bytes, const SegmentFile& file, bool verify_crc,
                bool classify_tail,
                const std::function<void(const ScannedRecord&)>& on_record = {});

// Scan options for a file: records below its base offset are bad.
ScanOptions ScanOptionsFor(const SegmentFile& file, bool verify_crc, bool classify_tail);

// Shows progress on stderr when it is a terminal; prints nothing otherwise.
class Progress {
 public:
  explicit Progress(uint64_t total_bytes);
  ~Progress() { Done(); }
  void Add(uint64_t bytes);
  // Clears the line, before other output goes to the terminal.
  void Done();

 private:
  bool enabled_;
  uint64_t total_, done_ = 0;
  int64_t last_ms_ = 0;
};

}  // namespace eventflow::cli
