#include "engine/cleanup.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <unordered_map>
#include <vector>

#include "engine/crash_point.h"
#include "engine/segment_rewrite.h"
#include "formats/endian.h"
#include "formats/key_hash.h"
#include "formats/saturating.h"
#include "formats/segment_name.h"
#include "formats/stored_event.h"

namespace eventflow {

namespace {

// An event a cleanup removes from the log.
struct Dropped {
  Uuid id;
  uint64_t offset;
};

constexpr size_t kDroppedBytes = 24;  // 16-byte id, 8-byte offset
constexpr std::string_view kIntentPrefix = "cleanup/";

std::string IntentPrefix(const Uuid& stream_id) {
  return std::string(kIntentPrefix) + stream_id.ToString() + "/";
}

// The journal of one segment's removal or rewrite (see CleanUpLog).
class Intent {
 public:
  Intent(Index& index, const std::string& org, const Uuid& stream_id, uint64_t base)
      : index_(index), org_(org), key_(IntentPrefix(stream_id) + std::to_string(base)) {}

  Status Begin(const std::vector<Dropped>& dropped) {
    std::string value(dropped.size() * kDroppedBytes, '\0');
    char* p = value.data();
    for (const Dropped& d : dropped) {
      std::memcpy(p, d.id.bytes.data(), 16);
      EncodeFixed64(p + 16, d.offset);
      p += kDroppedBytes;
    }
    return index_.PutState(key_, value);
  }
  // After the file change: the ids leave the index, then the intent.
  Status Finish(const std::vector<Dropped>& dropped) {
    std::vector<Uuid> ids;
    ids.reserve(dropped.size());
    for (const Dropped& d : dropped) ids.push_back(d.id);
    CrashPoint("cleanup:before_index");
    EF_RETURN_IF_ERROR(index_.DeleteEvents(org_, ids));
    return index_.DeleteState(key_);
  }

 private:
  Index& index_;
  const std::string& org_;
  const std::string key_;
};

std::vector<Dropped> DecodeDropped(std::string_view value) {
  std::vector<Dropped> out;
  for (size_t p = 0; p + kDroppedBytes <= value.size(); p += kDroppedBytes) {
    Dropped d;
    std::memcpy(d.id.bytes.data(), value.data() + p, 16);
    d.offset = DecodeFixed64(value.data() + p + 16);
    out.push_back(d);
  }
  return out;
}

// A sealed segment and the base of the segment after it.
struct SealedSegment {
  std::shared_ptr<Segment> segment;
  uint64_t next_base = 0;
};

std::vector<SealedSegment> SealedSegments(const StreamLog& log) {
  auto list = log.segments();
  std::vector<SealedSegment> out;
  // The last segment is the active one, even while a roll seals it.
  for (size_t i = 0; i + 1 < list->size(); ++i) {
    if ((*list)[i]->sealed()) out.push_back({(*list)[i], (*list)[i + 1]->base_offset()});
  }
  return out;
}

// The ids of every event in `seg`.
Status CollectIds(const Segment& seg, std::vector<Dropped>* ids) {
  return seg.Read(0, [&](const RecordView& r) {
    if (auto id = PeekEventId(r.payload)) ids->push_back({*id, r.offset});
    return true;
  });
}

Status ApplyRetention(StreamLog& log, Index& index, const std::string& org, const Uuid& stream_id,
                      const CleanupPolicy& policy, int64_t now_ms, CleanupReport* report) {
  if (!policy.max_age_ms && !policy.max_bytes) return Status::Ok();
  uint64_t total = log.bytes();
  for (const SealedSegment& sealed : SealedSegments(log)) {
    const std::shared_ptr<Segment>& seg = sealed.segment;
    EF_RETURN_IF_ERROR(seg->EnsureLoaded());
    const bool empty = seg->record_count() == 0;
    const bool too_old =
        policy.max_age_ms &&
        (empty || seg->last_timestamp_ms() < SaturatingSub(now_ms, *policy.max_age_ms));
    const bool too_big = policy.max_bytes && total > *policy.max_bytes;
    if (!too_old && !too_big) break;  // segments only get newer from here
    std::vector<Dropped> ids;
    EF_RETURN_IF_ERROR(CollectIds(*seg, &ids));
    report->bytes_scanned += seg->committed_bytes();
    Intent intent(index, org, stream_id, seg->base_offset());
    EF_RETURN_IF_ERROR(intent.Begin(ids));
    EF_RETURN_IF_ERROR(log.RemoveSegment(seg));
    EF_RETURN_IF_ERROR(intent.Finish(ids));
    total -= std::min(total, seg->committed_bytes());
    ++report->segments_deleted;
    report->events_removed += seg->record_count();
  }
  return Status::Ok();
}

// Rewrites one sealed segment keeping the events `keep` says to, with its
// original end (the next segment's base `next_base`) marked on the last
// record it keeps. One it empties is deleted only when `may_delete`: see
// ApplyCompaction.
Status CompactSegment(StreamLog& log, Index& index, const std::string& org, const Uuid& stream_id,
                      const std::shared_ptr<Segment>& seg, uint64_t next_base, bool may_delete,
                      const std::unordered_map<KeyHash, uint64_t, KeyHashHasher>& newest,
                      CleanupReport* report) {
  std::vector<KeptRecord> kept;
  std::vector<Dropped> dropped;
  uint64_t batch = 0;
  EF_RETURN_IF_ERROR(seg->Read(0, [&](const RecordView& r) {
    if (r.flags & record::kBatchBegin) ++batch;
    const PeekedKey key = PeekEventKey(r.payload, r.flags & record::kCompactEvent);
    bool keep = !key.rendered || !key.escaped_key;
    if (!keep) {
      auto it = newest.find(HashKey(*key.escaped_key));
      keep = it == newest.end() || it->second == r.offset;
    }
    if (keep) {
      kept.push_back(KeptRecord{r.offset, r.timestamp_ms, r.flags, r.payload, batch});
    } else if (auto id = PeekEventId(r.payload)) {
      dropped.push_back({*id, r.offset});
    }
    return true;
  }));
  report->bytes_scanned += seg->committed_bytes();
  const uint64_t removed = seg->record_count() - kept.size();
  if (removed == 0 || (kept.empty() && !may_delete)) return Status::Ok();
  Intent intent(index, org, stream_id, seg->base_offset());
  if (kept.empty()) {
    EF_RETURN_IF_ERROR(intent.Begin(dropped));
    EF_RETURN_IF_ERROR(log.RemoveSegment(seg));
    ++report->segments_deleted;
  } else {
    const std::string tmp =
        log.dir() + "/" +
        segment_name::MakeWithSuffix(seg->base_offset(), segment_name::kCompactingSuffix);
    auto written = WriteSegmentFile(tmp, kept, log.fops(), next_base);
    if (!written.ok()) {
      (void)log.fops()->Remove(tmp);
      return written.status();
    }
    EF_RETURN_IF_ERROR(intent.Begin(dropped));
    CrashPoint("compact:before_rename");
    EF_RETURN_IF_ERROR(log.ReplaceSegment(seg, tmp));
    ++report->segments_rewritten;
  }
  EF_RETURN_IF_ERROR(intent.Finish(dropped));
  report->events_removed += removed;
  return Status::Ok();
}

Status ApplyCompaction(StreamLog& log, Index& index, const std::string& org, const Uuid& stream_id,
                       CleanupReport* report) {
  auto sealed = SealedSegments(log);
  if (sealed.empty()) return Status::Ok();
  // The newest offset of every key in the whole log, the active segment
  // included: an event there supersedes older ones in sealed segments.
  std::unordered_map<KeyHash, uint64_t, KeyHashHasher> newest;
  EF_RETURN_IF_ERROR(log.Read(0, [&](const RecordView& r) {
    const PeekedKey key = PeekEventKey(r.payload, r.flags & record::kCompactEvent);
    if (key.escaped_key) newest[HashKey(*key.escaped_key)] = r.offset;
    return true;
  }));
  report->bytes_scanned += log.bytes();
  // Recovery checks that each of the newest sealed segments reaches the
  // next one's base (a shorter one lost records to a power loss: rule 8.9).
  // Deleting an emptied segment leaves its predecessor short, so that is
  // only done while enough sealed segments follow for the predecessor to
  // stay out of that check; a later run deletes the others.
  for (size_t i = 0; i < sealed.size(); ++i) {
    const bool may_delete = i + StreamLog::kMaxUnsyncedSealed + 1 < sealed.size();
    EF_RETURN_IF_ERROR(CompactSegment(log, index, org, stream_id, sealed[i].segment,
                                      sealed[i].next_base, may_delete, newest, report));
  }
  return Status::Ok();
}

}  // namespace

void CleanupReport::Add(const CleanupReport& o) {
  segments_deleted += o.segments_deleted;
  segments_rewritten += o.segments_rewritten;
  events_removed += o.events_removed;
  bytes_before += o.bytes_before;
  bytes_after += o.bytes_after;
  bytes_scanned += o.bytes_scanned;
}

Status FinishCleanupIntents(const StreamLog& log, Index& index, const std::string& org,
                            const Uuid& stream_id) {
  auto intents = index.ScanState(IntentPrefix(stream_id));
  if (!intents.ok()) return intents.status();
  for (const auto& [key, value] : *intents) {
    const std::vector<Dropped> dropped = DecodeDropped(value);
    // A file change removes all of the intent's offsets or none of them.
    bool still_there = false;
    if (!dropped.empty()) {
      const uint64_t want = dropped.front().offset;
      EF_RETURN_IF_ERROR(log.Read(want, [&](const RecordView& r) {
        still_there = r.offset == want;
        return false;
      }));
    }
    if (!still_there) {
      std::vector<Uuid> ids;
      for (const Dropped& d : dropped) ids.push_back(d.id);
      EF_RETURN_IF_ERROR(index.DeleteEvents(org, ids));
      spdlog::info("stream {}: finished an interrupted cleanup: {} event id(s) left the index",
                   stream_id.ToString(), ids.size());
    }
    EF_RETURN_IF_ERROR(index.DeleteState(key));
  }
  return Status::Ok();
}

Status CleanUpLog(StreamLog& log, Index& index, const std::string& org, const Uuid& stream_id,
                  const CleanupPolicy& policy, int64_t now_ms, CleanupReport* report) {
  EF_RETURN_IF_ERROR(FinishCleanupIntents(log, index, org, stream_id));
  report->bytes_before += log.bytes();
  Status s = ApplyRetention(log, index, org, stream_id, policy, now_ms, report);
  if (s.ok() && policy.compact) s = ApplyCompaction(log, index, org, stream_id, report);
  report->bytes_after += log.bytes();
  return s;
}

}  // namespace eventflow
