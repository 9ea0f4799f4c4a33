// Helpers for engine tests: temporary directories, drafts, appends
// answered now or later, waiting for a condition, and reading a whole log
// back.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/fault_injection.h"
#include "formats/stored_event.h"

namespace eventflow::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "eventflow-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A whole file's bytes ("" if it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A draft without an id of its own: the stream's writer names it.
inline EventDraft ServerDraft(const std::string& payload_json) {
  EventDraft d;
  d.id_assigned_by_server = true;
  d.members = ",\"payload\":" + payload_json;
  return d;
}

inline EventDraft Draft(const std::string& payload_json, const std::string& key = "") {
  EventDraft d;
  d.event_id = Uuid::Random();
  d.has_key = !key.empty();
  d.key = key;
  if (d.has_key) d.members = ",\"key\":\"" + key + "\"";
  d.members += ",\"payload\":" + payload_json;
  return d;
}

struct AppendOutcome {
  Status status;
  std::vector<EventAck> acks;
};

// An append whose answer the caller collects later.
inline std::future<AppendOutcome> AppendLater(StreamWriter& writer,
                                              std::vector<EventDraft> drafts) {
  auto p = std::make_shared<std::promise<AppendOutcome>>();
  auto f = p->get_future();
  writer.Append(std::move(drafts), [p](Status s, std::vector<EventAck> acks) {
    p->set_value({std::move(s), std::move(acks)});
  });
  return f;
}

inline AppendOutcome AppendSync(StreamWriter& writer, std::vector<EventDraft> drafts) {
  return AppendLater(writer, std::move(drafts)).get();
}

// Checks `pred` every few milliseconds until it holds or `seconds` pass
// (generous: for things that happen on another thread); whether it held.
template <typename Pred>
bool Eventually(Pred pred, int seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Appends through the engine and waits for the acks (the append must work).
inline std::vector<EventAck> AppendNow(Engine& e, const std::shared_ptr<Stream>& s,
                                       std::vector<EventDraft> drafts) {
  std::promise<std::vector<EventAck>> p;
  e.Append(s, std::move(drafts), [&](Status st, std::vector<EventAck> acks) {
    EXPECT_TRUE(st.ok()) << st.ToString();
    p.set_value(std::move(acks));
  });
  return p.get_future().get();
}

struct ReadRecord {
  uint64_t offset;
  int64_t ts;
  std::string payload;
};

inline std::vector<ReadRecord> ReadAll(const StreamLog& log, uint64_t from = 0) {
  std::vector<ReadRecord> out;
  Status s = log.Read(from, [&](const RecordView& r) {
    out.push_back({r.offset, r.timestamp_ms, std::string(r.payload)});
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

inline std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

using ::eventflow::ForwardingFileOps;

// One stream's log + writer over a private index, as the engine wires them.
struct LogFixture {
  explicit LogFixture(const std::string& root, uint64_t segment_bytes = 1 << 20,
                      FileOps* fops = FileOps::Posix(), FsyncPolicy fsync = {})
      : dir(root + "/stream"), options{segment_bytes, fops}, fsync(fsync) {
    std::filesystem::create_directories(dir);
    auto idx = Index::Open(root + "/index", {});
    EXPECT_TRUE(idx.ok()) << idx.status().ToString();
    index = std::move(*idx);
    Status s = Reopen();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  // Closes and reopens log and writer (not the index), like a restart.
  Status Reopen() {
    writer.reset();
    log.reset();
    auto opened = StreamLog::Open(dir, options, 0, &recovery);
    if (!opened.ok()) return opened.status();
    log = std::move(*opened);
    auto started = StreamWriter::Start(log.get(), index.get(), &ids, "org", stream_id, fsync);
    if (!started.ok()) return started.status();
    writer = std::move(*started);
    return Status::Ok();
  }
  void Close() {
    writer.reset();
    log.reset();
  }

  std::string dir;
  StreamLogOptions options;
  FsyncPolicy fsync;
  Uuid stream_id = Uuid::Random();
  IdRegistry ids;
  std::unique_ptr<Index> index;
  std::unique_ptr<StreamLog> log;
  std::unique_ptr<StreamWriter> writer;
  TailRecovery recovery;
};

}  // namespace eventflow::testing
