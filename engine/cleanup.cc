#include "engine/cleanup.h"

#include <spdlog/spdlog.h>

#include <unordered_map>
#include <vector>

#include "engine/crash_point.h"
#include "engine/segment_rewrite.h"
#include "formats/key_hash.h"
#include "formats/segment_name.h"
#include "formats/stored_event.h"

namespace eventflow {

namespace {

std::vector<std::shared_ptr<Segment>> SealedSegments(const StreamLog& log) {
  auto list = log.segments();
  std::vector<std::shared_ptr<Segment>> out;
  // The last segment is the active one, even while a roll seals it.
  for (size_t i = 0; i + 1 < list->size(); ++i) {
    if ((*list)[i]->sealed()) out.push_back((*list)[i]);
  }
  return out;
}

// The ids of every event in `seg`.
Status CollectIds(const Segment& seg, std::vector<Uuid>* ids) {
  return seg.Read(0, [&](const RecordView& r) {
    if (auto id = PeekEventId(r.payload)) ids->push_back(*id);
    return true;
  });
}

Status ApplyRetention(StreamLog& log, Index& index, const std::string& org,
                      const CleanupPolicy& policy, int64_t now_ms, CleanupReport* report) {
  if (!policy.max_age_ms && !policy.max_bytes) return Status::Ok();
  uint64_t total = log.bytes();
  for (const auto& seg : SealedSegments(log)) {
    EF_RETURN_IF_ERROR(seg->EnsureLoaded());
    const bool empty = seg->record_count() == 0;
    const bool too_old =
        policy.max_age_ms && (empty || seg->last_timestamp_ms() < now_ms - *policy.max_age_ms);
    const bool too_big = policy.max_bytes && total > *policy.max_bytes;
    if (!too_old && !too_big) break;  // segments only get newer from here
    std::vector<Uuid> ids;
    EF_RETURN_IF_ERROR(CollectIds(*seg, &ids));
    report->bytes_scanned += seg->committed_bytes();
    EF_RETURN_IF_ERROR(log.RemoveSegment(seg));
    EF_RETURN_IF_ERROR(index.DeleteEvents(org, ids));
    total -= std::min(total, seg->committed_bytes());
    ++report->segments_deleted;
    report->events_removed += seg->record_count();
  }
  return Status::Ok();
}

// Rewrites one sealed segment keeping the events `keep` says to.
Status CompactSegment(StreamLog& log, Index& index, const std::string& org,
                      const std::shared_ptr<Segment>& seg,
                      const std::unordered_map<KeyHash, uint64_t, KeyHashHasher>& newest,
                      CleanupReport* report) {
  std::vector<KeptRecord> kept;
  std::vector<Uuid> dropped;
  uint64_t batch = 0;
  EF_RETURN_IF_ERROR(seg->Read(0, [&](const RecordView& r) {
    if (r.flags & record::kBatchBegin) ++batch;
    const PeekedKey key = PeekEventKey(r.payload);
    bool keep = !key.rendered || !key.escaped_key;
    if (!keep) {
      auto it = newest.find(HashKey(*key.escaped_key));
      keep = it == newest.end() || it->second == r.offset;
    }
    if (keep) {
      kept.push_back(KeptRecord{r.offset, r.timestamp_ms, r.payload, batch});
    } else if (auto id = PeekEventId(r.payload)) {
      dropped.push_back(*id);
    }
    return true;
  }));
  report->bytes_scanned += seg->committed_bytes();
  const uint64_t removed = seg->record_count() - kept.size();
  if (removed == 0) return Status::Ok();
  if (kept.empty()) {
    EF_RETURN_IF_ERROR(log.RemoveSegment(seg));
    ++report->segments_deleted;
  } else {
    const std::string tmp =
        log.dir() + "/" +
        segment_name::MakeWithSuffix(seg->base_offset(), segment_name::kCompactingSuffix);
    auto written = WriteSegmentFile(tmp, kept, log.fops());
    if (!written.ok()) {
      (void)log.fops()->Remove(tmp);
      return written.status();
    }
    CrashPoint("compact:before_rename");
    EF_RETURN_IF_ERROR(log.ReplaceSegment(seg, tmp));
    ++report->segments_rewritten;
  }
  CrashPoint("compact:before_index");
  EF_RETURN_IF_ERROR(index.DeleteEvents(org, dropped));
  report->events_removed += removed;
  return Status::Ok();
}

Status ApplyCompaction(StreamLog& log, Index& index, const std::string& org,
                       CleanupReport* report) {
  auto sealed = SealedSegments(log);
  if (sealed.empty()) return Status::Ok();
  // The newest offset of every key in the whole log, the active segment
  // included: an event there supersedes older ones in sealed segments.
  std::unordered_map<KeyHash, uint64_t, KeyHashHasher> newest;
  EF_RETURN_IF_ERROR(log.Read(0, [&](const RecordView& r) {
    const PeekedKey key = PeekEventKey(r.payload);
    if (key.escaped_key) newest[HashKey(*key.escaped_key)] = r.offset;
    return true;
  }));
  report->bytes_scanned += log.bytes();
  for (const auto& seg : sealed) {
    EF_RETURN_IF_ERROR(CompactSegment(log, index, org, seg, newest, report));
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

Status CleanUpLog(StreamLog& log, Index& index, const std::string& org, const CleanupPolicy& policy,
                  int64_t now_ms, CleanupReport* report) {
  report->bytes_before += log.bytes();
  Status s = ApplyRetention(log, index, org, policy, now_ms, report);
  if (s.ok() && policy.compact) s = ApplyCompaction(log, index, org, report);
  report->bytes_after += log.bytes();
  return s;
}

}  // namespace eventflow
