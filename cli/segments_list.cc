// `eventflow segments list`: per stream and segment file, offsets, record
// counts, sizes, time range and state. Walks record headers without checking
// the record CRCs (that is `verify`'s job), so it stays quick.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/segment_files.h"
#include "cli/segments_command.h"
#include "formats/json_writer.h"
#include "formats/timestamp.h"

namespace eventflow::cli {

namespace {

struct SegmentRow {
  const SegmentFile* file;
  uint64_t size = 0;  // bytes read
  ScanResult scan;
  std::string problem;  // empty when the scan ended cleanly
};

std::string Num(uint64_t v) { return std::to_string(v); }

void AppendJsonRow(std::string* out, const SegmentRow& r) {
  const ScanResult& s = r.scan;
  *out += "{\"file\":";
  json::AppendString(out, r.file->name);
  *out += ",\"base_offset\":" + Num(r.file->base_offset);
  *out += ",\"last_offset\":" + (s.last_offset ? Num(*s.last_offset) : "null");
  *out += ",\"records\":" + Num(s.record_count);
  *out += ",\"valid_bytes\":" + Num(s.valid_end);
  *out += ",\"file_bytes\":" + Num(r.size);
  *out += ",\"first_timestamp\":";
  *out += s.first_offset ? "\"" + timestamp::Format(s.first_timestamp_ms) + "\"" : "null";
  *out += ",\"last_timestamp\":";
  *out += s.first_offset ? "\"" + timestamp::Format(s.last_timestamp_ms) + "\"" : "null";
  *out += ",\"state\":\"";
  *out += SegmentStateName(r.file->state);
  *out += "\",\"problem\":";
  *out += r.problem.empty() ? "null" : json::Quote(r.problem);
  *out += "}";
}

void PrintTextRows(const std::vector<SegmentRow>& rows) {
  std::printf("  %-30s %12s %12s %9s %12s %12s %-24s %-24s %s\n", "FILE", "BASE", "LAST", "RECORDS",
              "VALID_BYTES", "FILE_BYTES", "FIRST_TIMESTAMP", "LAST_TIMESTAMP", "STATE");
  for (const SegmentRow& r : rows) {
    const ScanResult& s = r.scan;
    const std::string first = s.first_offset ? timestamp::Format(s.first_timestamp_ms) : "-";
    const std::string last = s.first_offset ? timestamp::Format(s.last_timestamp_ms) : "-";
    std::printf("  %-30s %12llu %12s %9llu %12llu %12llu %-24s %-24s %s%s%s\n",
                r.file->name.c_str(), static_cast<unsigned long long>(r.file->base_offset),
                s.last_offset ? Num(*s.last_offset).c_str() : "-",
                static_cast<unsigned long long>(s.record_count),
                static_cast<unsigned long long>(s.valid_end),
                static_cast<unsigned long long>(r.size), first.c_str(), last.c_str(),
                SegmentStateName(r.file->state), r.problem.empty() ? "" : "  ! ",
                r.problem.c_str());
  }
}

}  // namespace

int SegmentsList(const SegmentsFlags& flags) {
  std::vector<StreamFiles> streams;
  if (flags.stream.empty()) {
    auto all = ListStreams(flags.data_dir);
    if (!all.ok()) {
      std::cerr << "eventflow segments list: " << all.status().message() << "\n";
      return 1;
    }
    streams = std::move(*all);
  } else {
    auto one = FindStream(flags.data_dir, flags.stream);
    if (!one.ok()) {
      std::cerr << "eventflow segments list: " << one.status().message() << "\n";
      return 1;
    }
    streams.push_back(std::move(*one));
  }
  uint64_t total = 0;
  for (const auto& s : streams) {
    for (const auto& f : s.files) total += f.file_size;
  }
  Progress progress(total);
  FileBytes bytes;
  std::string json = "{\"streams\":[";
  int rc = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    const StreamFiles& s = streams[i];
    if (!s.manifest) std::cerr << "warning: " << s.manifest_error << "\n";
    std::vector<SegmentRow> rows;
    for (const SegmentFile& f : s.files) {
      if (Status st = bytes.Load(f); !st.ok()) {
        std::cerr << "eventflow segments list: " << st.message() << "\n";
        rc = 1;
        continue;
      }
      SegmentRow row{&f, bytes.size(), {}, {}};
      row.scan = Scan(bytes, f, false, false);
      if (row.scan.bad_pos) {
        row.problem = std::string(row.scan.bad_reason) + " at byte " + Num(*row.scan.bad_pos) +
                      " (run segments verify)";
      }
      progress.Add(f.file_size);
      rows.push_back(std::move(row));
    }
    const std::string name = s.manifest ? s.manifest->name : "";
    const std::string org = s.manifest ? s.manifest->org_id : "";
    if (flags.json) {
      if (i > 0) json += ",";
      json += "{\"stream_id\":\"" + s.dir_name + "\",\"name\":";
      json += s.manifest ? json::Quote(name) : "null";
      json += ",\"org_id\":";
      json += s.manifest ? json::Quote(org) : "null";
      json += ",\"segments\":[";
      for (size_t k = 0; k < rows.size(); ++k) {
        if (k > 0) json += ",";
        AppendJsonRow(&json, rows[k]);
      }
      json += "]}";
    } else {
      std::printf("%sstream %s  name %s  org %s  (%zu segment files)\n", i > 0 ? "\n" : "",
                  s.dir_name.c_str(), s.manifest ? json::Quote(name).c_str() : "?",
                  s.manifest ? json::Quote(org).c_str() : "?", rows.size());
      PrintTextRows(rows);
    }
  }
  if (flags.json) std::printf("%s]}\n", json.c_str());
  return rc;
}

}  // namespace eventflow::cli
