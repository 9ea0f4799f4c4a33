// Api handlers for events: produce (single and batch), replay, get by id.
#include <charconv>
#include <memory>

#include "formats/json_writer.h"
#include "formats/timestamp.h"
#include "net/api.h"
#include "net/event_envelope.h"
#include "net/group_position.h"
#include "net/query.h"

namespace eventflow {

namespace http = boost::beast::http;

namespace {

constexpr size_t kMaxReplayBytes = 16u << 20;

EnvelopeDefaults DefaultsFor(const ApiKey& key, const std::string& correlation_id,
                             const std::string& trace_id, uint64_t max_event_bytes,
                             uint32_t max_batch_events) {
  EnvelopeDefaults d;
  d.correlation_id = correlation_id;
  // The request's trace (or the new one its answer's traceparent names).
  d.trace_id = trace_id;
  d.api_key_id = key.id;
  d.source = key.name;
  d.now_ms = timestamp::NowMs();
  d.max_event_bytes = max_event_bytes;
  d.max_batch_events = max_batch_events;
  return d;
}

// Appends one ack object; no temporaries (a batch answer has thousands).
void AppendAck(std::string* out, const EventAck& a) {
  char id[36];
  a.event_id.FormatTo(id);
  char num[24];
  const auto end = std::to_chars(num, num + sizeof num, a.offset).ptr;
  out->append("{\"event_id\":\"").append(id, sizeof id);
  out->append(a.duplicate ? "\",\"status\":\"DUPLICATE\",\"offset\":"
                          : "\",\"status\":\"ACCEPTED\",\"offset\":");
  out->append(num, end).append(",\"received_at\":\"");
  out->append(timestamp::Format(a.created_at_ms)).append("\"}");
}

// One debug line per event of a completed append (the caller checks the level).
template <typename Call>
void LogPersisted(const Call& call, const std::vector<EventAck>& acks) {
  for (const EventAck& a : acks) {
    LogFields f = call.Fields();
    f.Add("event_id", a.event_id.ToString()).Add("offset", a.offset);
    LogWith(spdlog::level::debug, f, a.duplicate ? "event was a duplicate" : "event persisted");
  }
}

ApiError AppendError(const Status& s) {
  if (s.code() == Status::Code::kConflict) {
    return ApiError{409, "event_id_conflict", s.message()};
  }
  if (s.code() == Status::Code::kInvalidArgument) {
    return ApiError{413, "event_too_large", s.message()};
  }
  return FromStatus(s);
}

// Answers a produce request once its append completed.
template <typename Call>
void AnswerAppend(const Call& call, bool batch, const Status& s,
                  const std::vector<EventAck>& acks) {
  if (!s.ok()) return call.Fail(AppendError(s));
  if (spdlog::should_log(spdlog::level::debug)) LogPersisted(call, acks);
  std::string out;
  if (!batch) {
    AppendAck(&out, acks[0]);
    return call.Json(acks[0].duplicate ? 200 : 202, std::move(out));
  }
  size_t dups = 0;
  out.reserve(64 + acks.size() * 128);
  out = "{\"results\":[";
  for (size_t i = 0; i < acks.size(); ++i) {
    if (i > 0) out += ",";
    AppendAck(&out, acks[i]);
    dups += acks[i].duplicate;
  }
  out += "],\"accepted\":" + std::to_string(acks.size() - dups) +
         ",\"duplicates\":" + std::to_string(dups) + "}";
  call.Json(dups == acks.size() ? 200 : 202, std::move(out));
}

}  // namespace

bool Api::CheckJsonContentType(const Call& call) {
  auto ct = call.req[http::field::content_type];
  std::string media(ct.substr(0, ct.find(';')));
  media.erase(0, media.find_first_not_of(" \t"));
  media.erase(media.find_last_not_of(" \t") + 1);
  for (char& c : media) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (media == "application/json") return true;
  call.Fail({415, "unsupported_media_type", "the body must be application/json"});
  return false;
}

std::optional<ApiError> Api::ParseProduce(const Call& call, bool batch, const JsonSchema* schema,
                                          ValidationBudget* budget,
                                          std::vector<EventDraft>* drafts) const {
  EnvelopeDefaults d = DefaultsFor(call.key, call.correlation_id, call.trace.trace_id,
                                   options_.max_event_bytes, options_.max_batch_events);
  d.schema = schema;
  d.budget = budget;
  drafts->clear();
  if (batch) return ParseBatch(call.req.body(), d, drafts);
  drafts->emplace_back();
  return ParseEvent(call.req.body(), d, &(*drafts)[0]);
}

bool Api::OrgOverQuota(const std::string& org, uint64_t adding) {
  if (options_.max_bytes_per_org == 0) return false;
  const int64_t now = timestamp::NowMs();
  uint64_t stored = 0;
  {
    std::lock_guard lock(org_bytes_mu_);
    auto it = org_bytes_.find(org);
    if (it != org_bytes_.end() && now - it->second.at_ms < kOrgBytesMaxAgeMs) {
      stored = it->second.bytes;
    } else {
      // Summed from the segments' sizes (no disk reads), at most once per
      // kOrgBytesMaxAgeMs per org; the map holds one entry per org.
      for (const auto& s : engine_->ListStreams()) {
        if (s->manifest.org_id == org && s->log) stored += s->log->stored_bytes();
      }
      it = org_bytes_.insert_or_assign(org, OrgBytes{stored, now}).first;
    }
    if (stored + adding > options_.max_bytes_per_org) return true;
    // Counted at once, so that requests before the next sum see it.
    it->second.bytes += adding;
  }
  return false;
}

void Api::Produce(Call& call, const std::string& ref, bool batch) {
  auto stream = FindStream(call, ref);
  if (!stream || !CheckJsonContentType(call)) return;
  if (OrgOverQuota(call.key.org_id, call.req.body().size())) {
    return call.Fail({507, "storage_quota_exceeded",
                      "with this request the org's streams would store more than " +
                          std::to_string(options_.max_bytes_per_org) +
                          " bytes (--max-bytes-per-org)"});
  }
  // The cache entry installs the stream's metrics before its first append.
  const std::shared_ptr<const StreamSettings> settings = CacheOf(*stream).settings;
  // The answer is built on the connection's io thread, not on the stream
  // writer's, whose next round waits for it.
  auto io = HttpServer::ThisThreadExecutor(timers_);
  // Schemas are checked here with a small budget; a request that needs more
  // is checked again on the validation pool, so that a costly schema or
  // pattern never holds up the other connections of this io thread.
  ValidationBudget inline_budget{kInlineValidationSteps};
  std::vector<EventDraft> drafts;
  if (auto err = ParseProduce(call, batch, settings->schema.get(), &inline_budget, &drafts)) {
    if (!inline_budget.exhausted) return call.Fail(*err);
    if (validations_queued_.fetch_add(1) >= kMaxQueuedValidations) {
      validations_queued_.fetch_sub(1);
      HttpResponse res = ErrorResponse(
          {503, "overloaded", "too many costly validations are waiting; try again later"});
      res.set(http::field::retry_after, "1");
      return call.Reply(std::move(res));
    }
    auto shared = std::make_shared<Call>(std::move(call));
    boost::asio::post(validation_, [this, shared, stream, settings, batch, io] {
      ValidationBudget budget;  // JsonSchema::kMaxValidationSteps for the whole request
      std::vector<EventDraft> drafts;
      auto err = ParseProduce(*shared, batch, settings->schema.get(), &budget, &drafts);
      validations_queued_.fetch_sub(1);
      if (err) return shared->Fail(*err);
      AppendDrafts(stream, shared, batch, std::move(drafts), io);
    });
    return;
  }
  AppendDrafts(stream, std::make_shared<Call>(std::move(call)), batch, std::move(drafts), io);
}

void Api::AppendDrafts(const std::shared_ptr<Stream>& stream, std::shared_ptr<Call> done,
                       bool batch, std::vector<EventDraft> drafts,
                       boost::asio::any_io_executor io) {
  // The request body is no longer needed; the completion outlives the call.
  done->req.body().clear();
  engine_->Append(stream, std::move(drafts),
                  [done, batch, io](Status s, std::vector<EventAck> acks) {
                    boost::asio::post(io, [done, batch, s = std::move(s), acks = std::move(acks)] {
                      AnswerAppend(*done, batch, s, acks);
                    });
                  });
}

namespace {

// ?raw=true: the log as written instead of the processed view. Nullopt
// (and false in *bad) for another value.
std::optional<bool> RawParam(std::string_view query, bool* bad) {
  auto raw = QueryParam(query, "raw");
  if (!raw || *raw == "false") return false;
  if (*raw == "true") return true;
  *bad = true;
  return std::nullopt;
}

}  // namespace

void Api::Replay(Call& call, const std::string& ref) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  bool bad = false;
  auto limit = IntParam(call.query, "limit", 100, 1, 10000, &bad);
  auto from = IntParam(call.query, "from_offset", 0, 0, INT64_MAX, &bad);
  auto raw = RawParam(call.query, &bad);
  if (bad) {
    return call.Fail({400, "invalid_request",
                      "limit must be 1..10000, from_offset a non-negative integer and raw true "
                      "or false"});
  }
  uint64_t start = static_cast<uint64_t>(*from);
  if (auto t = QueryParam(call.query, "from_time")) {
    auto ms = timestamp::Parse(*t);
    if (!ms) return call.Fail({400, "invalid_request", "from_time must be an RFC 3339 timestamp"});
    start = std::max(start, stream->log->FindTime(*ms));
  }
  start = std::max(start, stream->log->first_offset());
  // Without ?raw=true a stream with rules shows its processed view.
  const std::shared_ptr<ProcessedView> view = *raw ? nullptr : ViewOf(*stream);
  const uint64_t processed = view ? view->frontier() : 0;
  std::string out = "{\"events\":[";
  uint64_t next = start;
  int64_t n = 0;
  bool cut = false;  // stopped by the limit or the size cap, not the end
  auto visit = [&](uint64_t offset, std::string_view event) {
    if (n > 0 && out.size() + event.size() > kMaxReplayBytes) return !(cut = true);
    if (n > 0) out += ",";
    out.append(event);
    next = offset + 1;
    if (++n >= *limit) cut = true;
    return !cut;
  };
  Status s = view ? view->Read(*stream->log, start, visit)
                  : stream->log->ReadEvents(start, stream->manifest.stream_id,
                                            [&](const RecordView& r, std::string_view event) {
                                              return visit(r.offset, event);
                                            });
  if (!s.ok()) return call.Fail(FromStatus(s));
  // Every offset below the processed frontier was read: the filtered ones
  // at the end need not be read again.
  if (view && !cut) next = std::max(next, processed);
  out += "],\"next_from_offset\":" + std::to_string(next) + "}";
  call.Json(200, std::move(out));
}

void Api::GetEvent(Call& call, const std::string& ref, const std::string& event_id) {
  auto stream = FindStream(call, ref);
  if (!stream) return;
  bool bad = false;
  auto raw = RawParam(call.query, &bad);
  if (bad) return call.Fail({400, "invalid_request", "raw must be true or false"});
  auto id = Uuid::Parse(event_id);
  if (!id) return call.Fail({404, "event_not_found", "no event " + event_id});
  auto loc = engine_->Lookup(call.key.org_id, *id);
  if (!loc.ok()) return call.Fail(FromStatus(loc.status()));
  if (!loc->has_value() || (*loc)->stream_id != stream->manifest.stream_id) {
    return call.Fail({404, "event_not_found", "no event " + event_id + " in this stream"});
  }
  if (const auto view = *raw ? nullptr : ViewOf(*stream)) {
    std::string transformed;
    auto fate = view->FateOf(*stream->log, (*loc)->offset, &transformed);
    if (!fate.ok()) return call.Fail(FromStatus(fate.status()));
    auto not_delivered = [&](const std::string& why) {
      call.Fail({404, "event_not_delivered",
                 "event " + event_id + " " + why + " (?raw=true shows it as written)"});
    };
    switch (*fate) {
      case ProcessedView::Fate::kTransformed:
        return call.Json(200, std::move(transformed));
      case ProcessedView::Fate::kFiltered:
        return not_delivered("was filtered out by the stream's processing rules");
      case ProcessedView::Fate::kDeadLettered:
        return not_delivered("failed processing and is in the dead-letter queue");
      case ProcessedView::Fate::kNotProcessed:
        return not_delivered("is not processed yet");
      case ProcessedView::Fate::kAsWritten:
        break;
    }
  }
  auto body = ReadEventAt(*stream, (*loc)->offset);
  if (!body.ok()) return call.Fail(FromStatus(body.status()));
  if (body->empty()) return call.Fail({404, "event_not_found", "event " + event_id + " is gone"});
  call.Json(200, std::move(*body));
}

}  // namespace eventflow
