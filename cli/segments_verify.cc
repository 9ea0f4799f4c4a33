// `eventflow segments verify`: checks every record's header CRC, record CRC,
// offsets, timestamps and batch framing in every live segment of a data
// directory (or one file), and reports the first bad record of each file.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/segment_files.h"
#include "cli/segments_command.h"

namespace eventflow::cli {

namespace {

struct Totals {
  uint64_t files = 0, records = 0, bytes = 0, warnings = 0, problems = 0;
};

std::string Describe(const SegmentFile& f, const BadRecord& bad) {
  std::string s =
      f.path + ": byte " + std::to_string(bad.pos) + ", offset " + std::to_string(bad.offset);
  if (!bad.offset_from_header) s += " (header unreadable: last good offset + 1)";
  if (bad.pos != bad.batch_pos) {
    s += " (in the batch from byte " + std::to_string(bad.batch_pos) + ", offset " +
         std::to_string(bad.batch_offset) + ")";
  }
  return s;
}

void VerifyFile(const SegmentFile& f, FileBytes& bytes, Totals* t) {
  if (Status st = bytes.Load(f); !st.ok()) {
    std::printf("PROBLEM %s\n", st.message().c_str());
    ++t->problems;
    return;
  }
  ++t->files;
  t->bytes += bytes.size();
  const ScanResult scan = Scan(bytes, f, true, true);
  t->records += scan.record_count;
  if (scan.bad_pos) {
    const BadRecord bad = LocateBad(bytes, f, scan);
    if (f.state == SegmentState::kActive && !scan.corruption) {
      ++t->warnings;
      std::printf(
          "WARNING %s: torn tail: %.*s; %llu bytes from byte %llu are what a crash leaves in the "
          "last segment: recovery truncates them (not a failure)",
          Describe(f, bad).c_str(), static_cast<int>(scan.bad_reason.size()),
          scan.bad_reason.data(), static_cast<unsigned long long>(bytes.size() - scan.valid_end),
          static_cast<unsigned long long>(scan.valid_end));
      if (scan.resync_pos > 0) {
        std::printf(
            "; valid records follow at byte %llu, but no completed sync had reached "
            "offset %llu (rule 8.9): %llu record(s) dropped",
            static_cast<unsigned long long>(scan.resync_pos),
            static_cast<unsigned long long>(scan.damage_offset),
            static_cast<unsigned long long>(scan.dropped.count));
      }
      std::printf("\n");
      return;
    }
    ++t->problems;
    std::printf("PROBLEM %s: %.*s", Describe(f, bad).c_str(),
                static_cast<int>(scan.bad_reason.size()), scan.bad_reason.data());
    if (scan.corruption) {
      std::printf("; a valid record follows at byte %llu: corruption, not a torn write",
                  static_cast<unsigned long long>(scan.resync_pos));
      if (scan.synced_before) {
        std::printf(" (a completed sync had covered offsets below %llu, rule 8.9)",
                    static_cast<unsigned long long>(*scan.synced_before));
      }
    } else if (f.state == SegmentState::kSealed) {
      std::printf("; the segment is sealed: corruption");
    }
    std::printf("\n");
    return;
  }
  if (f.next_base && scan.last_offset && *scan.last_offset >= *f.next_base) {
    ++t->problems;
    std::printf("PROBLEM %s: last offset %llu is not below the next segment's base %llu\n",
                f.path.c_str(), static_cast<unsigned long long>(*scan.last_offset),
                static_cast<unsigned long long>(*f.next_base));
  }
}

}  // namespace

int SegmentsVerify(const SegmentsFlags& flags) {
  std::vector<SegmentFile> files;
  uint64_t quarantined = 0;
  if (!flags.file.empty()) {
    auto f = SingleFile(flags.file);
    if (!f.ok()) {
      std::cerr << "eventflow segments verify: " << f.status().message() << "\n";
      return 1;
    }
    files.push_back(std::move(*f));
  } else {
    auto streams = ListStreams(flags.data_dir);
    if (!streams.ok()) {
      std::cerr << "eventflow segments verify: " << streams.status().message() << "\n";
      return 1;
    }
    for (auto& s : *streams) {
      if (!s.manifest) {
        std::printf("WARNING %s (the server skips this stream)\n", s.manifest_error.c_str());
      }
      for (auto& f : s.files) {
        if (f.state == SegmentState::kQuarantined) {
          ++quarantined;  // already set aside by repair; never read
          continue;
        }
        files.push_back(std::move(f));
      }
    }
  }
  uint64_t total = 0;
  for (const auto& f : files) total += f.file_size;
  const auto start = std::chrono::steady_clock::now();
  Totals t;
  {
    Progress progress(total);
    FileBytes bytes;
    for (const SegmentFile& f : files) {
      VerifyFile(f, bytes, &t);
      progress.Add(f.file_size);
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double mb = static_cast<double>(t.bytes) / (1 << 20);
  std::printf(
      "%s: %llu files, %llu records, %llu bytes (%.1f MB) in %.3f s, %.0f MB/s; "
      "%llu warnings, %llu problems",
      t.problems == 0 ? "OK" : "FAILED", static_cast<unsigned long long>(t.files),
      static_cast<unsigned long long>(t.records), static_cast<unsigned long long>(t.bytes), mb,
      secs, secs > 0 ? mb / secs : 0.0, static_cast<unsigned long long>(t.warnings),
      static_cast<unsigned long long>(t.problems));
  if (quarantined > 0) {
    std::printf("; %llu quarantined files not verified",
                static_cast<unsigned long long>(quarantined));
  }
  std::printf("\n");
  return t.problems == 0 ? 0 : 1;
}

}  // namespace eventflow::cli
