// `eventflow repair`, `eventflow compact` and `eventflow index rebuild`: the
// commands that rewrite a stopped server's data directory.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/admin_commands.h"
#include "cli/segment_files.h"
#include "engine/repair.h"
#include "formats/timestamp.h"
#include "net/cleanup_runner.h"
#include "net/key_store.h"

namespace eventflow::cli {

namespace fs = std::filesystem;

namespace {

// The message and exit code for a data dir that cannot be opened for
// writing: 1 either way, but a running server gets a plain refusal.
int CannotOpen(const char* command, const std::string& data_dir, const Status& s) {
  if (s.code() == Status::Code::kBusy) {
    std::cerr << "eventflow " << command << ": refusing to touch " << data_dir
              << ": a running eventflow server holds " << data_dir
              << "/LOCK. Stop it first (read-only commands such as `segments verify` work "
                 "beside it).\n";
  } else {
    std::cerr << "eventflow " << command << ": " << s.ToString() << "\n";
  }
  return 1;
}

// The bytes of every live segment file, the total for progress lines.
uint64_t DataDirSegmentBytes(const std::string& data_dir) {
  uint64_t total = 0;
  auto streams = ListStreams(data_dir);
  if (!streams.ok()) return 0;
  for (const StreamFiles& s : *streams) {
    for (const SegmentFile& file : s.files) {
      if (file.state != SegmentState::kQuarantined) total += file.file_size;
    }
  }
  return total;
}

bool IsDataDir(const std::string& data_dir, const char* command) {
  std::error_code ec;
  if (fs::is_directory(data_dir + "/streams", ec)) return true;
  std::cerr << "eventflow " << command << ": " << data_dir
            << " is not an eventflow data directory (no streams/ in it)\n";
  return false;
}

}  // namespace

int Repair(const AdminFlags& f) {
  if (!IsDataDir(f.data_dir, "repair")) return 1;
  EngineOptions eo;
  eo.data_dir = f.data_dir;
  eo.segment_bytes = f.segment_bytes;
  auto report = [&] {
    Progress progress(DataDirSegmentBytes(f.data_dir));  // on a terminal only
    return RepairDataDir(eo, [&](uint64_t bytes) { progress.Add(bytes); });
  }();
  if (!report.ok()) return CannotOpen("repair", f.data_dir, report.status());
  for (const auto& a : report->actions) std::printf("repaired %s\n", a.c_str());
  for (const auto& p : report->problems) std::printf("PROBLEM %s\n", p.c_str());
  if (report->actions.empty() && report->problems.empty()) {
    std::printf("nothing to repair: every stream opens cleanly\n");
  }
  std::printf("%s\n", report->usable() ? "the data directory is usable"
                                       : "the data directory is NOT fully usable (see above)");
  return report->usable() ? 0 : 1;
}

int Compact(const AdminFlags& f) {
  if (!IsDataDir(f.data_dir, "compact")) return 1;
  EngineOptions eo;
  eo.data_dir = f.data_dir;
  eo.segment_bytes = f.segment_bytes;
  auto engine = Engine::Open(eo);
  if (!engine.ok()) return CannotOpen("compact", f.data_dir, engine.status());
  std::vector<std::shared_ptr<Stream>> streams;
  for (auto& s : (*engine)->ListStreams()) {
    if (f.stream.empty() || s->manifest.name == f.stream ||
        s->manifest.stream_id.ToString() == f.stream) {
      streams.push_back(std::move(s));
    }
  }
  if (streams.empty()) {
    std::cerr << "eventflow compact: no stream " << (f.stream.empty() ? "" : "'" + f.stream + "' ")
              << "in " << f.data_dir << "\n";
    return 1;
  }
  std::sort(streams.begin(), streams.end(),
            [](const auto& a, const auto& b) { return a->manifest.name < b->manifest.name; });
  int rc = 0;
  CleanupReport total;
  int64_t total_ms = 0;
  uint64_t log_bytes = 0;
  for (const auto& s : streams) log_bytes += s->serving() ? s->log->bytes() : 0;
  Progress progress(log_bytes);  // on a terminal only
  std::vector<StreamCleanup> results;
  for (const auto& s : streams) {
    const uint64_t bytes = s->serving() ? s->log->bytes() : 0;
    for (auto& r : CleanUpStreams(**engine, {s}, timestamp::NowMs())) {
      results.push_back(std::move(r));
    }
    progress.Add(bytes);
  }
  progress.Done();
  for (const StreamCleanup& r : results) {
    const CleanupReport& c = r.report;
    const std::string label =
        r.stream->manifest.stream_id.ToString() + " (" + r.stream->manifest.name + ")";
    if (!r.status.ok()) {
      std::printf("PROBLEM stream %s: %s\n", label.c_str(), r.status.ToString().c_str());
      rc = 1;
      continue;
    }
    std::printf(
        "stream %s: %llu event(s) removed, %llu segment(s) deleted, %llu rewritten, %llu -> "
        "%llu bytes\n",
        label.c_str(), static_cast<unsigned long long>(c.events_removed),
        static_cast<unsigned long long>(c.segments_deleted),
        static_cast<unsigned long long>(c.segments_rewritten),
        static_cast<unsigned long long>(c.bytes_before),
        static_cast<unsigned long long>(c.bytes_after));
    total.Add(c);
    total_ms += r.elapsed_ms;
  }
  const double mb = static_cast<double>(total.bytes_before) / 1e6;
  std::printf("cleaned %.1f MB of log in %lld ms (%.0f MB/s; %.1f MB read)\n", mb,
              static_cast<long long>(total_ms),
              total_ms > 0 ? mb * 1000.0 / static_cast<double>(total_ms) : 0.0,
              static_cast<double>(total.bytes_scanned) / 1e6);
  return rc;
}

int IndexRebuild(const AdminFlags& f) {
  if (!IsDataDir(f.data_dir, "index rebuild")) return 1;
  const std::string index_dir = f.data_dir + "/index";
  std::error_code ec;
  const bool had_index = fs::exists(index_dir + "/CURRENT", ec);
  EngineOptions eo;
  eo.data_dir = f.data_dir;
  auto rebuilt = [&] {
    Progress progress(DataDirSegmentBytes(f.data_dir));  // on a terminal only
    return Engine::RebuildIndex(eo, [&](uint64_t bytes) { progress.Add(bytes); });
  }();
  if (!rebuilt.ok()) return CannotOpen("index rebuild", f.data_dir, rebuilt.status());
  std::printf("indexed %llu event(s) from the segments and manifests\n",
              static_cast<unsigned long long>(*rebuilt));
  if (!had_index) {
    std::printf(
        "%s was missing, and with it the state that lives only there. NOT restored:\n"
        "  - API keys: none exist now; the server creates an admin key at its next start\n"
        "    (--bootstrap-key, or a generated one printed once), or use `eventflow keys create`\n"
        "  - consumer-group positions: every group starts again from the beginning of its "
        "stream\n"
        "  - delivery attempts, redeliveries and dead-letter entries\n",
        index_dir.c_str());
    return 0;
  }
  Index::Options ro;
  ro.read_only = true;
  auto index = Index::Open(index_dir, ro);
  if (!index.ok()) return CannotOpen("index rebuild", f.data_dir, index.status());
  auto keys = (*index)->ScanState("apikey/");
  auto groups = (*index)->ScanState("group/");
  auto deliveries = (*index)->ScanState("delivery/");
  auto dlq = (*index)->ScanState("dlq/");
  std::printf(
      "kept: %zu API key(s), %zu consumer group position(s), %zu delivery record(s) "
      "(redeliveries, dead-letter markers), %zu DLQ entry(ies)\n",
      keys.ok() ? keys->size() : 0, groups.ok() ? groups->size() : 0,
      deliveries.ok() ? deliveries->size() : 0, dlq.ok() ? dlq->size() : 0);
  return 0;
}

}  // namespace eventflow::cli
