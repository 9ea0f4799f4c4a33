#include "tests/crash/workload.h"

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <sstream>

#include "engine/delivery_store.h"
#include "engine/engine.h"
#include "engine/fault_injection.h"
#include "formats/stored_event.h"
#include "formats/timestamp.h"
#include "tests/crash/recorders.h"

namespace eventflow::crash {

namespace {

// Waits for a set of appends in flight and logs each one's promise from
// the callback, i.e. at the moment the engine answered.
class Round {
 public:
  // `allow_failures`: failed appends (a workload with injected faults) are
  // counted, not an error of the workload.
  Round(OpLog* log, bool allow_failures) : log_(log), allow_failures_(allow_failures) {}
  void Append(Engine& engine, const std::shared_ptr<Stream>& stream, const std::string& name,
              std::vector<EventDraft> drafts) {
    {
      std::lock_guard lock(mu_);
      ++pending_;
    }
    engine.Append(stream, std::move(drafts), [this, name](Status s, std::vector<EventAck> acks) {
      if (s.ok() && !acks.empty()) {
        std::ostringstream text;
        text << "append " << name << " " << acks.front().offset << " " << acks.size();
        for (const EventAck& a : acks) text << " " << a.event_id.ToString();
        log_->Promise(text.str());
      }
      std::lock_guard lock(mu_);
      if (!s.ok()) failures_.push_back(s.ToString());
      if (s.ok()) max_offset_ = std::max(max_offset_, acks.back().offset);
      --pending_;
      cv_.notify_all();
    });
  }
  // Waits for every append; the first failure, if any.
  Status Wait(uint64_t* max_offset) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return pending_ == 0; });
    *max_offset = max_offset_;
    if (!failures_.empty() && !allow_failures_)
      return Status::IOError("append failed: " + failures_.front());
    return Status::Ok();
  }

 private:
  OpLog* const log_;
  const bool allow_failures_;
  std::mutex mu_;
  std::condition_variable cv_;
  int pending_ = 0;
  uint64_t max_offset_ = 0;
  std::vector<std::string> failures_;
};

// Events of a few hundred bytes; about a third carry one of four keys, so
// compaction has something to remove.
std::vector<EventDraft> Drafts(std::mt19937_64& rng, size_t n) {
  std::vector<EventDraft> out;
  for (size_t i = 0; i < n; ++i) {
    EventDraft d;
    d.event_id = Uuid::Random();
    if (rng() % 3 == 0) {
      d.has_key = true;
      d.key = "k" + std::to_string(rng() % 4);
      d.members = ",\"key\":\"" + d.key + "\"";
    }
    const size_t pad = 20 + rng() % 300;
    d.members += ",\"payload\":{\"n\":" + std::to_string(rng() % 100000) + ",\"pad\":\"" +
                 std::string(pad, 'x') + "\"}";
    out.push_back(std::move(d));
  }
  return out;
}

// The offsets and event ids `log` holds.
std::map<uint64_t, std::string> Offsets(const StreamLog& log) {
  std::map<uint64_t, std::string> out;
  (void)log.Read(0, [&](const RecordView& r) {
    auto id = PeekEventId(r.payload);
    out[r.offset] = id ? id->ToString() : "";
    return true;
  });
  return out;
}

// Retention (down to `max_bytes`) and compaction of `stream`, between two
// markers: the offsets it removed are logged when it is done.
Status CleanUp(Engine& e, OpLog& log, const std::shared_ptr<Stream>& stream, uint64_t max_bytes) {
  const auto before = Offsets(*stream->log);
  log.Promise("cleanup-started s1");
  CleanupPolicy policy;
  policy.max_bytes = max_bytes;
  policy.compact = true;
  CleanupReport report;
  Status cleaned = e.CleanUp(stream, policy, timestamp::NowMs(), &report);
  const auto after = Offsets(*stream->log);
  std::string removed = "cleanup-done s1";
  for (const auto& [offset, id] : before)
    if (!after.count(offset)) removed += " " + std::to_string(offset);
  log.Promise(removed);
  return cleaned;
}

// A consumer-stage dead-lettering of the event at `offset`, then (when
// `retry`) its retry, each between a request marker and its answer.
Status DeadLetterAndRetry(Index& index, OpLog& log, const Uuid& stream, uint64_t offset,
                          const std::string& event_id) {
  DeliveryStore store(&index);
  Delivery d;
  d.offset = offset;
  d.event_id = event_id;
  d.attempts = 3;
  DlqEntry entry;
  entry.event_id = event_id;
  entry.offset = offset;
  entry.stage = "consumer";
  entry.group = "g";
  entry.reason = "crash explorer";
  entry.attempts = 3;
  entry.failed_at_ms = timestamp::NowMs();
  entry.event_json = "{}";
  const std::string at = " s1 " + std::to_string(offset);
  log.Promise("dlq-adding" + at);
  EF_RETURN_IF_ERROR(store.DeadLetter(stream, "g", d, entry));
  log.Promise("dlq-added" + at);
  log.Promise("dlq-retrying" + at);
  EF_RETURN_IF_ERROR(store.RetryConsumer(stream, entry));
  log.Promise("dlq-retried" + at);
  return Status::Ok();
}

}  // namespace

Result<std::vector<Op>> RunWorkload(const WorkloadSpec& spec, const std::string& root) {
  auto policy = FsyncPolicy::Parse(spec.fsync);
  if (!policy.ok()) return policy.status();
  std::error_code ec;
  std::filesystem::create_directories(root + "/data", ec);
  if (ec) return Status::IOError("mkdir " + root + "/data: " + ec.message());
  if (spec.name != "mixed" && spec.name != "syncfail")
    return Status::InvalidArgument("unknown workload " + spec.name);
  const bool faults = spec.name == "syncfail";
  OpLog log(root);
  // One segment sync fails, a few rounds in (which one depends on the seed).
  FaultInjectingFileOps faulty(FileOps::Posix(),
                               faults ? *ParseFaultPlan("files:sync:EIO:path=.seg:count=1:skip=" +
                                                        std::to_string(3 + spec.seed % 8))
                                      : std::vector<FaultRule>{});
  RecordingFileOps fops(&log, &faulty);
  auto env = NewRecordingEnv(&log);
  log.Promise("workload fsync=" + spec.fsync +
              " segment_bytes=" + std::to_string(spec.segment_bytes));
  std::mt19937_64 rng(spec.seed);
  {
    EngineOptions eo;
    eo.data_dir = root + "/data";
    eo.segment_bytes = spec.segment_bytes;
    eo.fsync = *policy;
    eo.fops = &fops;
    eo.index_env = env.get();
    eo.max_index_headroom = kIndexHeadroom;
    auto engine = Engine::Open(eo);
    if (!engine.ok()) return engine.status();
    Engine& e = **engine;
    auto created = e.CreateStream(kOrg, "s1", "{}");
    if (!created.ok()) return created.status();
    std::shared_ptr<Stream> s1 = *created;
    const std::string s1_id = s1->manifest.stream_id.ToString();
    log.Promise("stream-created s1 " + s1_id);
    const std::string group_key = "group/" + s1_id + "/g";
    for (int round = 0; round < spec.rounds; ++round) {
      Round r(&log, faults);
      const int appends = 1 + static_cast<int>(rng() % 3);
      for (int a = 0; a < appends; ++a) {
        const size_t n = rng() % 3 == 0 ? 1 : 2 + rng() % 11;  // single and batched
        r.Append(e, s1, "s1", Drafts(rng, n));
      }
      uint64_t max_offset = 0;
      EF_RETURN_IF_ERROR(r.Wait(&max_offset));
      if (round % 3 == 2) {  // a consumer group commit
        EF_RETURN_IF_ERROR(e.index().PutState(group_key, std::to_string(max_offset + 1)));
        log.Promise("commit " + group_key + " " + std::to_string(max_offset + 1));
      }
      if (round == spec.rounds / 3) {  // a DLQ move and a retry
        const auto held = Offsets(*s1->log);
        if (!held.empty()) {
          EF_RETURN_IF_ERROR(DeadLetterAndRetry(e.index(), log, s1->manifest.stream_id,
                                                held.begin()->first, held.begin()->second));
        }
      }
      if (round == spec.rounds * 2 / 3) {
        // With faults injected the run may fail part-way (what it removed
        // is logged either way).
        Status cleaned = CleanUp(e, log, s1, 3 * spec.segment_bytes);
        if (!cleaned.ok() && !faults) return cleaned;
      }
      if (round == spec.rounds / 2) {  // a stream made, written, deleted
        auto s2 = e.CreateStream(kOrg, "s2", "{}");
        if (!s2.ok()) return s2.status();
        const std::string s2_id = (*s2)->manifest.stream_id.ToString();
        log.Promise("stream-created s2 " + s2_id);
        Round r2(&log, faults);
        r2.Append(e, *s2, "s2", Drafts(rng, 3));
        EF_RETURN_IF_ERROR(r2.Wait(&max_offset));
        log.Promise("stream-deleting s2 " + s2_id);  // a request, not yet an answer
        EF_RETURN_IF_ERROR(e.DeleteStream((*s2)->manifest.stream_id));
        log.Promise("stream-deleted s2 " + s2_id);
      }
    }
    e.Close();
  }
  auto unknown = log.unknown_files();
  if (!unknown.empty())
    return Status::IOError("files changed outside the recorders: " + unknown.front());
  return log.Snapshot();
}

Result<Promises> ParsePromises(const std::vector<Op>& ops) {
  Promises out;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind != OpKind::kPromise) continue;
    std::istringstream in(ops[i].data);
    std::string what;
    in >> what;
    if (what == "workload") {
      std::string fsync, seg;
      in >> fsync >> seg;
      out.fsync = fsync.substr(fsync.find('=') + 1);
      out.segment_bytes = std::stoull(seg.substr(seg.find('=') + 1));
    } else if (what == "stream-created" || what == "stream-deleting" || what == "stream-deleted") {
      std::string name, id;
      in >> name >> id;
      auto& life = out.streams[name];
      life.id = id;
      (what == "stream-created"    ? life.created_at
       : what == "stream-deleting" ? life.deleting_at
                                   : life.deleted_at) = i;
    } else if (what == "append") {
      Promises::Batch b;
      size_t n = 0;
      in >> b.stream >> b.first >> n;
      b.ids.resize(n);
      for (auto& id : b.ids) in >> id;
      b.acked_at = i;
      out.batches.push_back(std::move(b));
    } else if (what == "cleanup-started") {
      std::string name;
      in >> name;
      out.cleanups.push_back({name, i, {}});
    } else if (what == "cleanup-done") {
      std::string name;
      in >> name;
      if (out.cleanups.empty()) return Status::Corruption("cleanup-done before it started");
      for (uint64_t offset; in >> offset;) out.cleanups.back().removed.insert(offset);
      in.clear();
    } else if (what.rfind("dlq-", 0) == 0) {
      std::string name;
      uint64_t offset = 0;
      in >> name >> offset;
      auto& d = out.dlq[offset];
      d.stream = name;
      (what == "dlq-adding"     ? d.adding_at
       : what == "dlq-added"    ? d.added_at
       : what == "dlq-retrying" ? d.retrying_at
                                : d.retried_at) = i;
    } else if (what == "commit") {
      Promises::Commit c;
      in >> c.key >> c.value;
      c.at = i;
      out.commits.push_back(std::move(c));
    } else {
      return Status::Corruption("unknown promise: " + ops[i].data);
    }
    if (!in) return Status::Corruption("bad promise: " + ops[i].data);
  }
  return out;
}

}  // namespace eventflow::crash
