// Engine micro benchmarks, in-process, events of ~200 payload bytes.
// Axes: BM_Append/<fsync policy>[_client_ids]/<events per request> keeps 64
// requests in flight (as many connections would), so group commit can batch
// them; ids are time-ordered as the server assigns them, or random v4 as
// clients send them (_client_ids);
// index put/get; CRC32C; record encode; sequential read from offset 0.
// Counters: events/s (items_per_second) and MB/s (bytes_per_second).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>

#include "engine/engine.h"
#include "formats/crc32c.h"
#include "formats/record.h"
#include "formats/stored_event.h"

namespace eventflow {
namespace {

namespace fs = std::filesystem;

std::string BenchDir() {
  const char* base = std::getenv("EVENTFLOW_BENCH_DIR");
  std::string tmpl =
      (fs::path(base ? base : fs::temp_directory_path().string()) / "eventflow-bench-XXXXXX")
          .string();
  return ::mkdtemp(tmpl.data());
}

// Ids as the server assigns them (time-ordered) or as clients send them (random v4).
enum class Ids { kServer, kClient };

EventDraft Draft200(Ids ids) {
  static const std::string members =
      ",\"key\":\"org-42\",\"payload\":{\"taskId\":\"t-1\",\"title\":\"" + std::string(160, 'x') +
      "\",\"n\":1}";
  EventDraft d;
  if (ids == Ids::kClient) d.event_id = Uuid::Random();  // the writer names the others
  d.id_assigned_by_server = ids == Ids::kServer;
  d.has_key = true;
  d.key = "org-42";
  d.members = members;
  return d;
}

// Limits requests in flight and waits for all of them.
class InFlight {
 public:
  explicit InFlight(int limit) : limit_(limit) {}
  void Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return n_ < limit_; });
    ++n_;
  }
  void Release() {
    std::lock_guard lock(mu_);
    --n_;
    cv_.notify_all();
  }
  void Drain() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return n_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
  const int limit_;
};

void BM_Append(benchmark::State& state, const char* policy, Ids ids) {
  const int batch = static_cast<int>(state.range(0));
  const std::string dir = BenchDir();
  EngineOptions eo;
  eo.data_dir = dir;
  eo.fsync = *FsyncPolicy::Parse(policy);
  auto engine = Engine::Open(eo);
  if (!engine.ok()) return state.SkipWithError(engine.status().ToString().c_str());
  auto stream = (*engine)->CreateStream("org", "bench", "{}");
  InFlight inflight(64);
  std::atomic<int> errors{0};
  int64_t events = 0, bytes = 0;
  for (auto _ : state) {
    std::vector<EventDraft> drafts;
    drafts.reserve(batch);
    for (int i = 0; i < batch; ++i) drafts.push_back(Draft200(ids));
    // Bytes as stored: records of compact events (formats/stored_event.h).
    bytes += static_cast<int64_t>(batch * record::EncodedSize(drafts[0].CompactSize()));
    inflight.Acquire();
    (*engine)->Append(*stream, std::move(drafts), [&](Status s, std::vector<EventAck>) {
      if (!s.ok()) ++errors;
      inflight.Release();
    });
    events += batch;
  }
  inflight.Drain();
  const auto& stats = (*stream)->writer->stats();
  state.counters["flushes"] = static_cast<double>(stats.flushes.load());
  state.counters["events_per_flush"] =
      stats.flushes ? static_cast<double>(events) / static_cast<double>(stats.flushes) : 0;
  state.SetItemsProcessed(events);
  state.SetBytesProcessed(bytes);
  if (errors) state.SkipWithError("appends failed");
  (*engine)->Close();
  fs::remove_all(dir);
}
BENCHMARK_CAPTURE(BM_Append, never, "never", Ids::kServer)
    ->Arg(1)
    ->Arg(100)
    ->Arg(1000)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Append, always, "always", Ids::kServer)
    ->Arg(1)
    ->Arg(100)
    ->Arg(1000)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Append, never_client_ids, "never", Ids::kClient)->Arg(1000)->UseRealTime();
BENCHMARK_CAPTURE(BM_Append, always_client_ids, "always", Ids::kClient)->Arg(1000)->UseRealTime();

// Arg 0: event entries skip the WAL (as the engine runs); 1: through it.
void BM_IndexPut(benchmark::State& state) {
  const std::string dir = BenchDir();
  Index::Options io;
  io.event_wal = state.range(0) == 1;
  auto index = Index::Open(dir + "/index", io);
  if (!index.ok()) return state.SkipWithError(index.status().ToString().c_str());
  const Uuid stream = Uuid::Random();
  uint64_t offset = 0;
  std::vector<IndexedEvent> batch(1000);
  for (auto _ : state) {
    for (auto& e : batch) e = IndexedEvent{Uuid::Random(), {stream, offset++, 0}};
    benchmark::DoNotOptimize((*index)->PutEvents("org", stream, batch, offset - 1));
  }
  state.SetItemsProcessed(static_cast<int64_t>(offset));
  index->reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_IndexPut)->Arg(0)->Arg(1)->UseRealTime();

void BM_IndexGet(benchmark::State& state) {
  const std::string dir = BenchDir();
  auto index = Index::Open(dir + "/index", {});
  if (!index.ok()) return state.SkipWithError(index.status().ToString().c_str());
  const Uuid stream = Uuid::Random();
  std::vector<Uuid> ids;
  std::vector<IndexedEvent> batch;
  for (uint64_t i = 0; i < 200000; ++i) {
    ids.push_back(Uuid::Random());
    batch.push_back({ids.back(), {stream, i, 0}});
    if (batch.size() == 1000) {
      (void)(*index)->PutEvents("org", stream, batch, i);
      batch.clear();
    }
  }
  (void)(*index)->Flush();
  size_t i = 0;
  for (auto _ : state) {
    auto r = (*index)->GetEvent("org", ids[i++ % ids.size()]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  index->reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_IndexGet);

void BM_Crc32c(benchmark::State& state) {
  std::string buf(static_cast<size_t>(state.range(0)), 'c');
  for (auto _ : state) benchmark::DoNotOptimize(crc32c::Value(buf));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(240)->Arg(4096)->Arg(1 << 20);

void BM_RecordEncode(benchmark::State& state) {
  const EventDraft d = Draft200(Ids::kServer);
  std::string buf(record::EncodedSize(d.CompactSize()), '\0');
  uint64_t offset = 0;
  for (auto _ : state) {
    record::Header h;
    h.offset = offset++;
    h.timestamp_ms = 1795000000123;
    h.flags |= record::kCompactEvent;
    h.length = static_cast<uint32_t>(RenderCompactEvent(d, buf.data() + record::kHeaderSize));
    benchmark::DoNotOptimize(record::EncodeInPlace(h, buf.data()));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(buf.size()));
}
BENCHMARK(BM_RecordEncode);

void BM_ReadFromZero(benchmark::State& state) {
  const std::string dir = BenchDir();
  EngineOptions eo;
  eo.data_dir = dir;
  eo.fsync.mode = FsyncPolicy::Mode::kNever;
  auto engine = Engine::Open(eo);
  if (!engine.ok()) return state.SkipWithError(engine.status().ToString().c_str());
  auto stream = (*engine)->CreateStream("org", "read", "{}");
  constexpr int kEvents = 1000000;
  InFlight inflight(8);
  for (int i = 0; i < kEvents / 1000; ++i) {
    std::vector<EventDraft> drafts;
    for (int k = 0; k < 1000; ++k) drafts.push_back(Draft200(Ids::kServer));
    inflight.Acquire();
    (*engine)->Append(*stream, std::move(drafts),
                      [&](Status, std::vector<EventAck>) { inflight.Release(); });
  }
  inflight.Drain();
  int64_t events = 0, bytes = 0;
  // As a consumer reads: each event turned back into its JSON, a thousand
  // to an answer.
  EventJsonRenderer renderer((*stream)->manifest.stream_id);
  std::string answer;
  for (auto _ : state) {
    Status s = (*stream)->log->Read(0, [&](const RecordView& r) {
      if (++events % 1000 == 0) answer.clear();
      const size_t before = answer.size();
      renderer.AppendTo(r.payload, r.flags & record::kCompactEvent, r.offset, r.timestamp_ms,
                        &answer);
      bytes += static_cast<int64_t>(answer.size() - before);
      return true;
    });
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.SetItemsProcessed(events);
  state.SetBytesProcessed(bytes);
  (*engine)->Close();
  fs::remove_all(dir);
}
BENCHMARK(BM_ReadFromZero)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace
}  // namespace eventflow

BENCHMARK_MAIN();
