#include "tests/crash/checker.h"

#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "engine/delivery_store.h"
#include "engine/engine.h"
#include "formats/stored_event.h"
#include "tests/e2e/server_process.h"

namespace eventflow::crash {

namespace {

Status Broken(const std::string& what) { return Status::Corruption(what); }

// Checks one served stream's log and index entries against its batches.
Status CheckStream(Engine& engine, const Stream& stream, const std::string& name,
                   const Promises& promises, size_t position, uint64_t synced_through,
                   const std::map<uint64_t, std::set<std::string>>& written) {
  std::vector<std::pair<uint64_t, std::string>> records;  // offset, event id
  Status read = stream.log->Read(0, [&](const RecordView& r) {
    auto id = PeekEventId(r.payload);
    records.emplace_back(r.offset, id ? id->ToString() : "");
    return true;
  });
  if (!read.ok()) return Broken(name + ": reading the log failed: " + read.ToString());
  std::map<uint64_t, std::string> expected;  // offset -> id, every batch ever acked
  std::vector<const Promises::Batch*> batches;
  std::set<std::string> acked_ids;
  for (const auto& b : promises.batches) {
    if (b.stream != name) continue;
    batches.push_back(&b);
    for (size_t i = 0; i < b.ids.size(); ++i) expected[b.first + i] = b.ids[i];
    acked_ids.insert(b.ids.begin(), b.ids.end());
  }
  // Offsets a retention or compaction run begun before `position` may
  // have taken; every other offset below the log's end must be there.
  std::set<uint64_t> removable;
  for (const auto& c : promises.cleanups)
    if (c.stream == name && c.started_at < position)
      removable.insert(c.removed.begin(), c.removed.end());
  std::set<uint64_t> present;  // offsets holding their acknowledged event
  std::vector<std::pair<uint64_t, std::string>> unacked;  // of failed or in-flight rounds
  uint64_t next = 0;
  for (const auto& [offset, id] : records) {
    if (offset < next)
      return Broken(name + ": offset " + std::to_string(offset) + " after " +
                    std::to_string(next - 1) + " (out of order, or twice)");
    for (; next < offset; ++next)
      if (!removable.count(next))
        return Broken(name + ": offset " + std::to_string(next) + " is missing before " +
                      std::to_string(offset) + " (a gap no cleanup made)");
    auto it = expected.find(offset);
    auto w = written.find(offset);
    const bool acked_here = it != expected.end() && it->second == id;
    // A record of a round that failed (or was in flight) may survive a
    // crash before its failure was handled: an error is no proof of absence.
    const bool written_here = w != written.end() && w->second.count(id) && !acked_ids.count(id);
    if (!acked_here && !written_here)
      return Broken(name + ": offset " + std::to_string(offset) + " holds " + id +
                    ", which was never appended there");
    if (acked_here) present.insert(offset);
    if (!acked_here) unacked.emplace_back(offset, id);
    next = offset + 1;
  }
  // Whole batches only; under always every one acknowledged; under every
  // policy every record a completed sync covered. Offsets a cleanup may
  // have removed count as neither present nor missing.
  for (const auto* b : batches) {
    size_t here = 0, gone = 0;
    for (size_t i = 0; i < b->ids.size(); ++i) {
      const uint64_t offset = b->first + i;
      if (present.count(offset)) {
        ++here;
      } else if (!removable.count(offset)) {
        ++gone;
      }
    }
    const std::string what = name + ": the batch at " + std::to_string(b->first) + ".." +
                             std::to_string(b->first + b->ids.size() - 1);
    if (here > 0 && gone > 0) return Broken(what + " is cut (" + std::to_string(gone) + " gone)");
    if (gone > 0 && promises.fsync == "always" && b->acked_at < position)
      return Broken(what + " was acknowledged under fsync always and is gone");
    if (gone > 0 && b->first < synced_through)
      return Broken(what + " is gone though a completed sync covered records up to " +
                    std::to_string(synced_through - 1));
  }
  // The index agrees with the log, both ways.
  for (const auto& [offset, id_text] : expected) {
    auto id = Uuid::Parse(id_text);
    auto where = engine.Lookup(kOrg, *id);
    if (!where.ok()) return Broken(name + ": index lookup failed: " + where.status().ToString());
    if (present.count(offset)) {
      if (!where->has_value() || (*where)->offset != offset ||
          (*where)->stream_id != stream.manifest.stream_id)
        return Broken(name + ": the index does not find " + id_text + " at " +
                      std::to_string(offset));
    } else if (where->has_value()) {
      return Broken(name + ": the index finds " + id_text + " (offset " +
                    std::to_string((*where)->offset) + "), which the log no longer has");
    }
  }
  for (const auto& [offset, id_text] : unacked) {
    auto where = engine.Lookup(kOrg, *Uuid::Parse(id_text));
    if (!where.ok() || !where->has_value() || (*where)->offset != offset)
      return Broken(name + ": the index does not find " + id_text + " at " +
                    std::to_string(offset));
  }
  return Status::Ok();
}

// A dead-lettering answered before `position` (and no retry asked for yet)
// is in the DLQ; a retry answered before it is not.
Status CheckDlq(Engine& engine, const Promises& promises, size_t position) {
  DeliveryStore store(&engine.index());
  for (const auto& [offset, move] : promises.dlq) {
    auto life = promises.streams.find(move.stream);
    if (life == promises.streams.end()) continue;
    auto stream = Uuid::Parse(life->second.id);
    DlqFilter filter;
    filter.offset = offset;
    auto entries = store.ListDlq(*stream, filter);
    if (!entries.ok()) return Broken("reading the DLQ failed: " + entries.status().ToString());
    const bool listed = !entries->empty();
    if (move.added_at < position && move.retrying_at > position && !listed)
      return Broken("the dead-lettered event at " + std::to_string(offset) + " is not in the DLQ");
    if (move.retried_at < position && listed)
      return Broken("the event at " + std::to_string(offset) +
                    " was retried and is still in the DLQ");
  }
  return Status::Ok();
}

}  // namespace

Status CheckState(const Promises& promises, size_t position, const CrashState& state,
                  const std::string& root, std::map<std::string, uint64_t>* events) {
  const auto& synced_through = state.synced_through();
  auto policy = FsyncPolicy::Parse(promises.fsync);
  if (!policy.ok()) return policy.status();
  EngineOptions eo;
  eo.data_dir = root + "/data";
  eo.segment_bytes = promises.segment_bytes;
  eo.fsync = *policy;
  eo.start_writers = false;
  eo.max_index_headroom = kIndexHeadroom;
  auto opened = Engine::Open(eo);
  if (!opened.ok()) return Broken("the engine did not open: " + opened.status().ToString());
  Engine& engine = **opened;
  std::set<std::string> seen;
  for (const auto& stream : engine.ListStreams()) {
    const std::string& name = stream->manifest.name;
    if (!seen.insert(name).second) return Broken("two streams named " + name);
    auto life = promises.streams.find(name);
    if (life == promises.streams.end()) return Broken("a stream nobody made: " + name);
    if (stream->manifest.stream_id.ToString() != life->second.id)
      return Broken(name + " has the id " + stream->manifest.stream_id.ToString());
    if (life->second.deleted_at < position) return Broken(name + " was deleted and is back");
    if (!stream->serving())
      return Broken(name + " is not served: " + stream->open_status.ToString());
    const std::string dir = "data/streams/" + life->second.id;
    auto synced = synced_through.find(dir);
    auto written = state.written_ids().find(dir);
    static const std::map<uint64_t, std::set<std::string>> kNone;
    EF_RETURN_IF_ERROR(CheckStream(engine, *stream, name, promises, position,
                                   synced == synced_through.end() ? 0 : synced->second,
                                   written == state.written_ids().end() ? kNone : written->second));
    if (events != nullptr) {
      std::optional<uint64_t> last;
      (void)stream->log->Read(0, [&](const RecordView& r) {
        last = r.offset;
        return true;
      });
      (*events)[name] = last ? *last + 1 : 0;
    }
  }
  for (const auto& [name, life] : promises.streams) {
    if (life.created_at < position && life.deleting_at > position && !seen.count(name))
      return Broken(name + " was created and is gone");
  }
  EF_RETURN_IF_ERROR(CheckDlq(engine, promises, position));
  std::map<std::string, uint64_t> committed;
  for (const auto& c : promises.commits)
    if (c.at < position) committed[c.key] = c.value;
  for (const auto& [key, value] : committed) {
    auto got = engine.index().GetState(key);
    if (!got.ok()) return Broken("reading " + key + " failed: " + got.status().ToString());
    if (!got->has_value() || std::stoull(**got) < value)
      return Broken("the commit " + key + " = " + std::to_string(value) + " reads back as " +
                    (got->has_value() ? **got : std::string("nothing")));
  }
  return Status::Ok();
}

Status CheckServed(const std::string& root, const std::map<std::string, uint64_t>& events) {
  static constexpr char kAdmin[] = "crash-explorer-admin-key";
  const std::string key = std::string("X-API-Key: ") + kAdmin + "\r\n";
  testing::ServerProcess server(root + "/data", {"--bootstrap-key", kAdmin}, root + "/server.log");
  if (!server.ok()) return Broken("the server did not start: " + server.first_line());
  bool ready = false;
  for (int i = 0; i < 400 && !ready; ++i) {
    ready = server.Request("GET", "/readyz").status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  if (!ready) return Broken("the server never became ready");
  for (const auto& [name, n] : events) {
    auto r = server.Request("GET", "/api/v1/streams/" + name, "", key);
    if (r.status != 200)
      return Broken("the server answers " + std::to_string(r.status) + " for " + name);
    // The last offset: event_count is the span of offsets, which a cleanup
    // run leaves larger than the number of events.
    const std::string last = testing::Field(r.body, "/last_offset");
    const std::string want = n == 0 ? "null" : std::to_string(n - 1);
    if (last != want)
      return Broken("the server's last offset of " + name + " is " + last + ", the engine's " +
                    want);
  }
  if (const int rc = server.Terminate(); rc != 0)
    return Broken("the server's stop was not clean: " + std::to_string(rc));
  return Status::Ok();
}

}  // namespace eventflow::crash
