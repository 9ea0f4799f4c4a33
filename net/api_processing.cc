// Api and the processor: which streams are processed, how processing is
// reported (logs, metrics), and the processing-stage DLQ retry.
#include <cstring>
#include <future>

#include <openssl/hmac.h>
#include <openssl/rand.h>
#include "formats/json_edit.h"
#include "formats/json_writer.h"

#include "net/api.h"
#include "net/dead_letter_log.h"
#include "net/group_position.h"

namespace eventflow {

// Logs and counts what the processor does, on its thread.
class Api::ProcessingReporter : public ProcessorObserver {
 public:
  explicit ProcessingReporter(Metrics* metrics) : metrics_(metrics) {}

  void OnProcessed(const Stream& stream, const std::vector<int64_t>& latency_ms) override {
    if (metrics_) metrics_->OnProcessed(stream, latency_ms);
    if (spdlog::should_log(spdlog::level::debug)) {
      LogWith(spdlog::level::debug, StreamFields(stream).Add("events", uint64_t{latency_ms.size()}),
              "events processed");
    }
  }

  void OnRuleFailed(const Stream& stream, uint64_t offset, uint32_t attempt,
                    const std::string& reason) override {
    if (metrics_) metrics_->OnProcessingFailure(stream);
    LogWith(spdlog::level::warn,
            StreamFields(stream)
                .Add("offset", offset)
                .Add("attempt", uint64_t{attempt})
                .Add("reason", reason),
            "processing failed; will retry");
  }

  void OnDeadLettered(const Stream& stream, const DlqEntry& entry) override {
    if (metrics_) metrics_->OnDeadLettered(stream, entry.stage);
    LogFields f;
    f.Add("stream", stream.manifest.name);
    AddDeadLetterFields(&f, stream, entry);
    // The ids of the request that produced the event, from its metadata.
    simdjson::dom::parser parser;
    simdjson::dom::element context;
    if (!parser.parse(entry.event_json).at_pointer("/metadata/context").get(context)) {
      for (const char* id : {"correlation_id", "trace_id"}) {
        std::string_view value;
        if (!context[id].get(value)) f.Add(id, value);
      }
    }
    LogWith(spdlog::level::warn, f, "event dead-lettered");
  }

 private:
  static LogFields StreamFields(const Stream& stream) {
    LogFields f;
    f.Add("stream_id", stream.manifest.stream_id.ToString()).Add("stream", stream.manifest.name);
    return f;
  }
  Metrics* const metrics_;
};

Api::Api(Engine* engine, KeyStore* keys, ApiOptions options, boost::asio::any_io_executor timers)
    : engine_(engine),
      deliveries_(&engine->index()),
      keys_(keys),
      options_(std::move(options)),
      timers_(std::move(timers)),
      metrics_(options_.metrics ? std::make_unique<Metrics>() : nullptr),
      reporter_(std::make_unique<ProcessingReporter>(metrics_.get())),
      processor_(std::make_unique<Processor>(&engine->index(), reporter_.get())) {
  for (const auto& stream : engine_->ListStreams()) {
    if (!stream->log) continue;
    // A stream with rules but no view was created just before a crash:
    // all of its events are new.
    if (Status s = ConfigureProcessing(stream, *SettingsOf(*stream), true); !s.ok()) {
      spdlog::error("stream {}: processing not started: {}", stream->manifest.stream_id.ToString(),
                    s.ToString());
    }
  }
}

Api::~Api() {
  Drain();
  processor_->Stop();
}

Status Api::ConfigureProcessing(const std::shared_ptr<Stream>& stream,
                                const StreamSettings& settings, bool from_start) {
  const Uuid& id = stream->manifest.stream_id;
  if (!settings.has_rules() && !processor_->Find(id)) {
    auto stored = ProcessedView::StoredFrontier(engine_->index(), id);
    if (!stored.ok()) return stored.status();
    // Never had rules: consumers read the log itself, at no extra cost.
    if (!stored->has_value()) return Status::Ok();
  }
  ProcessingConfig config;
  config.rules = settings.rules;
  config.max_attempts = static_cast<uint32_t>(settings.processing_max_attempts);
  config.backoff_ms = settings.processing_backoff_ms;
  config.max_output_bytes = BodyLimitOf(Route::kProduce);  // what one produce may store
  return processor_->Configure(stream, std::move(config), from_start).status();
}

Result<std::string> Api::RetrySecret() {
  std::lock_guard lock(retry_secret_mu_);
  if (!retry_secret_.empty()) return retry_secret_;
  auto stored = engine_->index().GetState(kRetrySecretKey);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    retry_secret_ = **stored;
    return retry_secret_;
  }
  // Made once per data dir; the index's state write is durable before the
  // first retry id is derived from it.
  std::string secret(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                 static_cast<int>(secret.size())) != 1) {
    return Status::IOError("no random bytes for the retry-id secret");
  }
  EF_RETURN_IF_ERROR(engine_->index().PutState(kRetrySecretKey, secret));
  retry_secret_ = secret;
  return retry_secret_;
}

Result<Uuid> Api::AppendRetry(const std::shared_ptr<Stream>& stream, const DlqEntry& entry) {
  simdjson::dom::parser parser;
  simdjson::dom::object event;
  if (parser.parse(entry.event_json).get(event)) {
    return Status::Corruption("DLQ entry of " + entry.event_id + " holds no event object");
  }
  auto edit = JsonEdit::Parse(entry.event_json);
  if (!edit.ok()) return edit.status();
  EF_RETURN_IF_ERROR(edit->Set({"metadata", "retry_of"}, json::Quote(entry.event_id)));
  auto payload = edit->Get({"payload"});
  auto metadata = edit->Get({"metadata"});
  if (!payload.ok() || !metadata.ok() || !payload->has_value() || !metadata->has_value()) {
    return Status::Corruption("DLQ entry of " + entry.event_id + " has no payload or metadata");
  }
  EventDraft draft;
  // The id is derived from the entry, so a retry repeated after a crash
  // between the append and the entry's removal is a duplicate, not a
  // second copy; keyed by the data dir's secret, so that no client can work
  // it out from the DLQ listing and take it first (a plain hash of the
  // listed event id and failed_at could be: the retry then answered
  // DUPLICATE and the event was lost).
  auto secret = RetrySecret();
  if (!secret.ok()) return secret.status();
  const std::string message =
      "retry\n" + entry.event_id + "\n" + std::to_string(entry.failed_at_ms);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), secret->data(), static_cast<int>(secret->size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac,
           &mac_len) == nullptr ||
      mac_len < 16) {
    return Status::IOError("HMAC of the retry id failed");
  }
  std::string bytes(reinterpret_cast<const char*>(mac), 16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x40);  // version 4 (random-looking)
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  draft.event_id = Uuid::FromBytes(bytes);
  std::string_view key;
  if (!event["key"].get(key)) {
    draft.has_key = true;
    draft.key = key;
    draft.members = ",\"key\":" + json::Quote(key);
  }
  draft.members += ",\"payload\":" + **payload + ",\"metadata\":" + **metadata;
  std::promise<Result<EventAck>> done;
  engine_->Append(stream, {std::move(draft)}, [&done](Status s, std::vector<EventAck> acks) {
    if (!s.ok()) return done.set_value(s);
    done.set_value(acks.at(0));
  });
  auto ack = done.get_future().get();
  if (!ack.ok()) return ack.status();
  if (!ack->duplicate) return ack->event_id;
  // The id is held already: by this entry's own retry when a crash came
  // between its append and the entry's removal (then the retry is done),
  // or by any other event (then the raw event is not stored again, and the
  // entry stays).
  auto stored = ReadEventAt(*stream, ack->offset);
  if (!stored.ok()) return stored.status();
  simdjson::dom::element held;
  std::string_view retry_of;
  if (!stored->empty() && !parser.parse(*stored).get(held) &&
      !held["metadata"]["retry_of"].get(retry_of) && retry_of == entry.event_id) {
    return ack->event_id;
  }
  return Status::Conflict("the retry's event id " + ack->event_id.ToString() +
                          " is held by another event; the entry stays in the DLQ");
}

}  // namespace eventflow
