// Api handlers for nack and the dead-letter queue: nack counts a group's
// failed deliveries of an event and parks it for redelivery, or sends it to
// the DLQ (stage consumer) at the stream's max_deliveries; the DLQ can be
// listed, retried and discarded. All state lives in the DeliveryStore
// (engine/delivery_store.h); writes are synced on the blocking pool under
// the group's lock, like commits.
#include <algorithm>
#include <mutex>

#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "net/api.h"
#include "net/dead_letter_log.h"
#include "net/group_position.h"
#include "net/query.h"

namespace eventflow {

namespace {

constexpr int64_t kMaxDelayMs = 86'400'000;  // one day
constexpr size_t kMaxReasonBytes = 4096;

// A nack's body: {"event_id": "...", "reason": "...", "delay_ms": N}.
struct NackRequest {
  Uuid event_id;
  std::string reason;
  int64_t delay_ms = 0;
};

std::optional<ApiError> ParseNack(simdjson::dom::object body, NackRequest* out) {
  bool have_id = false;
  for (auto [key, value] : body) {
    std::string_view text;
    if (key == "event_id") {
      auto id = value.get(text) ? std::nullopt : Uuid::Parse(text);
      if (!id) return ApiError{400, "invalid_request", "event_id must be a UUID string"};
      out->event_id = *id;
      have_id = true;
    } else if (key == "reason") {
      if (value.get(text) || text.size() > kMaxReasonBytes) {
        return ApiError{400, "invalid_request", "reason must be a string of at most 4096 bytes"};
      }
      out->reason = text;
    } else if (key == "delay_ms") {
      if (value.get(out->delay_ms) || out->delay_ms < 0 || out->delay_ms > kMaxDelayMs) {
        return ApiError{400, "invalid_request", "delay_ms must be an integer in 0..86400000"};
      }
    } else {
      return ApiError{400, "invalid_request", "unknown field " + std::string(key)};
    }
  }
  if (!have_id) return ApiError{400, "invalid_request", "event_id is required"};
  return std::nullopt;
}

// The ids of a DLQ entry, for the answer of a retry.
std::string EntryRef(const DlqEntry& e) {
  return "{\"event_id\":" + json::Quote(e.event_id) + ",\"offset\":" + std::to_string(e.offset) +
         ",\"stage\":" + json::Quote(e.stage) +
         ",\"group_id\":" + (e.group.empty() ? std::string("null") : json::Quote(e.group)) + "}";
}

// One info line per entry a retry or discard touched (Call is Api's).
template <typename Call>
void LogEntry(const Call& call, const DlqEntry& e, std::string_view message) {
  LogFields f = call.Fields();
  f.Add("event_id", e.event_id).Add("stage", e.stage).Add("group", e.group);
  LogWith(spdlog::level::info, f, message);
}

HttpResponse NoContent() {
  HttpResponse res;
  res.result(boost::beast::http::status::no_content);
  return res;
}

}  // namespace

void AddDeadLetterFields(LogFields* f, const Stream& stream, const DlqEntry& entry) {
  f->Add("event_id", entry.event_id)
      .Add("stream_id", stream.manifest.stream_id.ToString())
      .Add("stage", entry.stage)
      .Add("group", entry.group)
      .Add("offset", entry.offset)
      .Add("attempts", uint64_t{entry.attempts})
      .Add("reason", entry.reason);
}

void Api::ReportDeadLettered(const Call& call, const Stream& stream, const DlqEntry& entry) {
  if (metrics_) metrics_->OnDeadLettered(stream, entry.stage);
  LogFields f = call.Fields();
  AddDeadLetterFields(&f, stream, entry);
  LogWith(spdlog::level::warn, f, "event dead-lettered");
}

void Api::Nack(Call& call, const std::string& ref, const std::string& group) {
  auto stream = FindGroupStream(call, ref, group);
  if (!stream) return;
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (!ParseBody(call, parser, &body)) return;
  NackRequest req;
  if (auto err = ParseNack(body, &req)) return call.Fail(*err);
  const auto max_deliveries = static_cast<uint32_t>(SettingsOf(*stream)->max_deliveries);
  Offload(call, [this, stream, group, req, max_deliveries](Call& call) {
    const std::string id = req.event_id.ToString();
    auto loc = engine_->Lookup(call.key.org_id, req.event_id);
    if (!loc.ok()) return call.Fail(FromStatus(loc.status()));
    if (!loc->has_value() || (*loc)->stream_id != stream->manifest.stream_id) {
      return call.Fail({404, "event_not_found", "no event " + id + " in this stream"});
    }
    const uint64_t offset = (*loc)->offset;
    const Uuid& sid = stream->manifest.stream_id;
    const std::string key = GroupKey(*stream, group);
    std::lock_guard lock(GroupLock(key));
    auto pos = LoadPosition(engine_->index(), key);
    if (!pos.ok()) return call.Fail(FromStatus(pos.status()));
    auto record = deliveries_.Get(sid, group, offset);
    if (!record.ok()) return call.Fail(FromStatus(record.status()));
    if (record->has_value() && !(*record)->Pending()) {
      return call.Fail(
          {409, "event_dead_lettered", "event " + id + " is in the DLQ for group '" + group + "'"});
    }
    const GroupPosition p = pos->value_or(GroupPosition{});
    // At or below the position only a redelivery the group still owes can
    // be nacked: anything else was settled by a commit.
    if (p.committed && offset <= *p.committed && !record->has_value()) {
      return call.Fail({409, "event_already_committed",
                        "offset " + std::to_string(offset) + " is at or below the committed " +
                            std::to_string(*p.committed)});
    }
    // A nack is a use of the group: it exists from now on.
    if (!pos->has_value()) {
      if (Status s = AdmitNewGroup(*stream, group); !s.ok()) return call.Fail(FromStatus(s));
      if (Status s = engine_->index().PutState(key, EncodePosition(p)); !s.ok()) {
        return call.Fail(FromStatus(s));
      }
    }
    const int64_t now = timestamp::NowMs();
    Delivery d = record->value_or(Delivery{});
    d.offset = offset;
    d.event_id = id;
    d.state = Delivery::State::kParked;
    d.attempts += 1;
    d.due_ms = now + req.delay_ms;
    d.reason = req.reason;
    const bool dead = d.attempts >= max_deliveries;
    if (!dead) {
      if (Status s = deliveries_.Put(sid, group, d); !s.ok()) return call.Fail(FromStatus(s));
      // Parked long-polls collect again and set their timers by the new due time.
      WaitersOf(*stream, ViewOf(*stream).get()).WakeAll();
    } else {
      auto raw = ReadEventAt(*stream, offset);
      if (!raw.ok()) return call.Fail(FromStatus(raw.status()));
      DlqEntry entry{.event_id = id,
                     .offset = offset,
                     .stage = "consumer",
                     .group = group,
                     .reason = req.reason,
                     .attempts = d.attempts,
                     .failed_at_ms = now,
                     .event_json = std::move(*raw)};
      if (Status s = deliveries_.DeadLetter(sid, group, d, entry); !s.ok()) {
        return call.Fail(FromStatus(s));
      }
      ReportDeadLettered(call, *stream, entry);
    }
    if (spdlog::should_log(spdlog::level::debug)) {
      LogFields f = call.Fields();
      f.Add("group", group).Add("event_id", id).Add("attempts", uint64_t{d.attempts});
      LogWith(spdlog::level::debug, f, "event nacked");
    }
    call.Json(200, "{\"event_id\":" + json::Quote(id) +
                       ",\"attempts\":" + std::to_string(d.attempts) +
                       ",\"dead_lettered\":" + (dead ? "true" : "false") + "}");
  });
}

void Api::ListDlq(Call& call, const std::string& ref) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  bool bad = false;
  auto limit = IntParam(call.query, "limit", 100, 1, 10000, &bad);
  if (bad) return call.Fail({400, "invalid_request", "limit must be 1..10000"});
  DlqFilter filter;
  filter.limit = static_cast<size_t>(*limit);
  filter.group = QueryParam(call.query, "group_id");
  filter.stage = QueryParam(call.query, "stage");
  if (filter.group && !ValidName(*filter.group)) {
    return call.Fail({400, "invalid_request", "bad group_id"});
  }
  if (filter.stage && *filter.stage != "consumer" && *filter.stage != "processing") {
    return call.Fail({400, "invalid_request", "stage must be consumer or processing"});
  }
  auto entries = deliveries_.ListDlq(stream->manifest.stream_id, filter);
  if (!entries.ok()) return call.Fail(FromStatus(entries.status()));
  std::string out = "{\"entries\":[";
  for (size_t i = 0; i < entries->size(); ++i) {
    if (i > 0) out += ",";
    out += (*entries)[i].ToJson();
  }
  call.Json(200, out + "]}");
}

std::optional<std::vector<DlqEntry>> Api::FindDlqEntries(const Call& call, const Stream& stream,
                                                         const std::string& event_id) {
  auto id = Uuid::Parse(event_id);
  DlqFilter filter;
  filter.group = QueryParam(call.query, "group_id");
  if (filter.group) filter.stage = "consumer";  // a group picks its consumer-stage entry
  if (id) {
    filter.event_id = id->ToString();
    // The event's offset narrows the scan to its entries; an event that
    // retention removed from the index still has them: scan the stream's.
    auto loc = engine_->Lookup(call.key.org_id, *id);
    if (!loc.ok()) {
      call.Fail(FromStatus(loc.status()));
      return std::nullopt;
    }
    if (loc->has_value() && (*loc)->stream_id == stream.manifest.stream_id) {
      filter.offset = (*loc)->offset;
    }
  }
  Result<std::vector<DlqEntry>> entries = std::vector<DlqEntry>();
  if (id) entries = deliveries_.ListDlq(stream.manifest.stream_id, filter);
  if (!entries.ok()) {
    call.Fail(FromStatus(entries.status()));
    return std::nullopt;
  }
  if (entries->empty()) {
    call.Fail({404, "dlq_entry_not_found",
               "no DLQ entry for event " + event_id +
                   (filter.group ? " and group '" + *filter.group + "'" : std::string())});
    return std::nullopt;
  }
  return std::move(*entries);
}

void Api::WithDlqEntries(Call& call, const std::string& ref, const std::string& event_id,
                         DlqWork work) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  Offload(call, [this, stream, event_id, work = std::move(work)](Call& call) {
    if (auto entries = FindDlqEntries(call, *stream, event_id)) work(call, stream, *entries);
  });
}

void Api::RetryDlq(Call& call, const std::string& ref, const std::string& event_id) {
  WithDlqEntries(
      call, ref, event_id,
      [this](Call& call, const std::shared_ptr<Stream>& stream,
             const std::vector<DlqEntry>& entries) {
        std::string out = "{\"retried\":[";
        bool first = true;
        const Uuid& sid = stream->manifest.stream_id;
        for (const DlqEntry& e : entries) {
          std::lock_guard lock(GroupLock(GroupKey(*stream, e.group)));
          // A retry or discard of the same entry may have come first.
          auto still = deliveries_.ListDlq(
              sid,
              {.group = e.group, .stage = e.stage, .event_id = e.event_id, .offset = e.offset});
          if (!still.ok()) return call.Fail(FromStatus(still.status()));
          if (still->empty()) continue;
          std::string ref = EntryRef(e);
          if (e.stage == "processing") {
            // The raw original flows through the rules again as a new event;
            // the entry goes once that event is durable.
            auto retry = AppendRetry(stream, e);
            if (!retry.ok()) return call.Fail(FromStatus(retry.status()));
            if (Status s = deliveries_.Discard(sid, {e}); !s.ok()) return call.Fail(FromStatus(s));
            ref.insert(ref.size() - 1, ",\"retry_event_id\":\"" + retry->ToString() + "\"");
          } else if (Status s = deliveries_.RetryConsumer(sid, e); !s.ok()) {
            return call.Fail(FromStatus(s));
          }
          if (!first) out += ",";
          first = false;
          out += ref;
          LogEntry(call, e, "dlq entry retried");
        }
        // Parked long-polls deliver the redeliveries now.
        if (stream->log) WaitersOf(*stream, ViewOf(*stream).get()).WakeAll();
        call.Json(202, out + "]}");
      });
}

void Api::DiscardDlq(Call& call, const std::string& ref, const std::string& event_id) {
  WithDlqEntries(call, ref, event_id,
                 [this](Call& call, const std::shared_ptr<Stream>& stream,
                        const std::vector<DlqEntry>& entries) {
                   if (Status s = deliveries_.Discard(stream->manifest.stream_id, entries);
                       !s.ok()) {
                     return call.Fail(FromStatus(s));
                   }
                   for (const DlqEntry& e : entries) LogEntry(call, e, "dlq entry discarded");
                   call.Reply(NoContent());
                 });
}

}  // namespace eventflow
