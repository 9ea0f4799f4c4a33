// `eventflow segments dump`: records of a stream (or one file) as text or
// JSON lines, as a reader would see them: only complete batches, every
// record CRC checked. Fields come from the stored event JSON (simdjson).
#include <simdjson.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli/segment_files.h"
#include "cli/segments_command.h"
#include "formats/json_writer.h"
#include "formats/stored_event.h"
#include "formats/timestamp.h"

namespace eventflow::cli {

namespace {

class RecordPrinter {
 public:
  explicit RecordPrinter(bool json) : json_(json) {}

  void Print(const ScannedRecord& r) {
    line_.clear();
    std::string_view event_id, type, key;
    bool has_type = false, has_key = false;
    std::string payload = "null";
    simdjson::dom::element doc;
    const bool parsed = !parser_.parse(r.payload.data(), r.payload.size()).get(doc);
    if (parsed) {
      if (doc["event_id"].get(event_id)) event_id = {};
      has_key = !doc["key"].get(key);
      has_type = !doc.at_pointer("/metadata/event_type").get(type);
      simdjson::dom::element p;
      if (!doc["payload"].get(p)) payload = simdjson::minify(p);
    } else if (auto id = PeekEventId(r.payload)) {
      id_text_ = id->ToString();
      event_id = id_text_;
    }
    const std::string ts = timestamp::Format(r.header.timestamp_ms);
    if (json_) {
      line_ = "{\"offset\":" + std::to_string(r.header.offset) + ",\"timestamp\":\"" + ts +
              "\",\"event_id\":";
      line_ += event_id.empty() ? "null" : json::Quote(event_id);
      line_ += ",\"event_type\":";
      line_ += has_type ? json::Quote(type) : "null";
      line_ += ",\"key\":";
      line_ += has_key ? json::Quote(key) : "null";
      line_ += ",\"payload\":" + payload;
      if (!parsed) line_ += ",\"error\":\"stored event is not valid JSON\"";
      line_ += "}\n";
    } else {
      line_ = std::to_string(r.header.offset) + " " + ts + " ";
      line_ += event_id.empty() ? "-" : std::string(event_id);
      line_ += " ";
      line_ += has_type ? json::Quote(type) : "-";
      line_ += " ";
      line_ += has_key ? json::Quote(key) : "-";
      line_ += " ";
      line_ += parsed ? payload : "(stored event is not valid JSON)";
      line_ += "\n";
    }
    std::fwrite(line_.data(), 1, line_.size(), stdout);
  }

 private:
  bool json_;
  simdjson::dom::parser parser_;
  std::string line_, id_text_;
};

}  // namespace

int SegmentsDump(const SegmentsFlags& flags) {
  std::vector<SegmentFile> files;
  if (!flags.file.empty()) {
    auto f = SingleFile(flags.file);
    if (!f.ok()) {
      std::cerr << "eventflow segments dump: " << f.status().message() << "\n";
      return 1;
    }
    files.push_back(std::move(*f));
  } else {
    auto s = FindStream(flags.data_dir, flags.stream);
    if (!s.ok()) {
      std::cerr << "eventflow segments dump: " << s.status().message() << "\n";
      return 1;
    }
    for (auto& f : s->files) {
      if (f.state == SegmentState::kQuarantined) continue;
      // Whole segments below --from-offset are skipped unread.
      if (f.next_base && *f.next_base <= flags.from_offset) continue;
      files.push_back(std::move(f));
    }
  }
  RecordPrinter printer(flags.json);
  FileBytes bytes;
  uint64_t printed = 0;
  const bool limited = flags.limit.has_value();
  int rc = 0;
  for (const SegmentFile& f : files) {
    if (limited && printed >= *flags.limit) break;
    if (Status st = bytes.Load(f); !st.ok()) {
      std::cerr << "eventflow segments dump: " << st.message() << "\n";
      return 1;
    }
    const ScanResult scan = Scan(bytes, f, true, true, [&](const ScannedRecord& r) {
      if (r.header.offset < flags.from_offset) return;
      if (limited && printed >= *flags.limit) return;
      printer.Print(r);
      ++printed;
    });
    if (!scan.bad_pos || (limited && printed >= *flags.limit)) continue;
    const BadRecord bad = LocateBad(bytes, f, scan);
    std::fflush(stdout);
    if (f.state == SegmentState::kActive && !scan.corruption) {
      // What a crash leaves; recovery truncates it and readers never see it.
      std::cerr << "note: " << f.path << ": torn tail at byte " << bad.batch_pos << " (offset "
                << bad.batch_offset << "): " << scan.bad_reason
                << "; not shown, recovery truncates it\n";
      continue;
    }
    std::cerr << "eventflow segments dump: " << f.path << ": bad record at byte " << bad.pos
              << ", offset " << bad.offset << (bad.offset_from_header ? "" : " (expected)") << ": "
              << scan.bad_reason << "; records after it are not shown\n";
    rc = 1;
    break;
  }
  std::fflush(stdout);
  return rc;
}

}  // namespace eventflow::cli
