// Api: the pure request -> response side of the REST contract (docs/api.md).
// It never touches sockets: HttpServer hands it a request and a Respond
// callback. Every answer carries X-Correlation-ID and a traceparent, is
// counted in the metrics (unless disabled) and logged with the request's
// ids. Handlers never block on disk: appends complete through the engine's
// group-commit callback.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <simdjson.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "engine/delivery_store.h"
#include "engine/engine.h"
#include "engine/processor.h"
#include "net/api_error.h"
#include "net/http_server.h"
#include "net/key_store.h"
#include "net/logging.h"
#include "net/metrics.h"
#include "net/route.h"
#include "net/scan_hints.h"
#include "net/stream_settings.h"
#include "net/trace_context.h"

namespace eventflow {

struct ApiOptions {
  uint64_t max_event_bytes = 1u << 20;
  uint64_t max_batch_bytes = 16u << 20;
  uint32_t max_batch_events = 10000;
  // Long-polls waiting at once; past it a poll answers at once.
  size_t max_parked_polls = 10000;
  // Consumer groups one stream may have (polls, commits, seeks and nacks
  // make them); one more is 403 quota_exceeded.
  size_t max_groups_per_stream = 1000;
  // Bytes an org's streams may store (0: unlimited); past it produce
  // answers 507 storage_quota_exceeded.
  uint64_t max_bytes_per_org = 0;
  bool metrics = true;  // GET /metrics (404 when off) and the series behind it
  // GET /metrics is served on a listener of its own (serve --metrics-listen);
  // the API listener answers it 404.
  bool metrics_listener_apart = false;
  // /readyz fails while the data dir's filesystem has less free space.
  uint64_t min_free_bytes = 64u << 20;
  // The HTTP server's open connections, for the metrics (optional).
  std::function<size_t()> open_connections;
};

class Api {
 public:
  // Starts the processor on every stream that has rules or a processed view.
  Api(Engine* engine, KeyStore* keys, ApiOptions options, boost::asio::any_io_executor timers);
  ~Api();
  // Which listener a request came in on: the API's, or the one serving
  // only /metrics (ApiOptions::metrics_listener_apart).
  enum class Listener { kApi, kMetrics };
  // The server's HttpAdmit: matches the route and checks the key from the
  // header alone (401 without reading the body), gives the route's body
  // limit, and hands back the rest of the request's handling.
  Admission Admit(const HttpRequestHeader& header, Listener listener = Listener::kApi);
  // Waits for the work handed to the blocking pool (durable writes).
  void Drain() { blocking_.join(); }
  // Stops processing and answers the long-polls parked on processed
  // streams (shutdown).
  void StopProcessing() { processor_->Stop(); }
  // Counts an answer the HTTP server gave itself to a request it could not
  // read (route "unmatched").
  void CountRefused(int status) {
    if (metrics_) metrics_->OnRequest(Route::kUnmatched, status, 0.0);
  }

 private:
  // What a handler gets: the request, its route, the authenticated key, the
  // correlation id to echo and the trace it belongs to. Reply counts and
  // logs the answer before sending it.
  struct Call {
    HttpRequest req;
    Route route = Route::kUnmatched;
    std::string stream_ref;  // the {stream_id} of the path, as written
    std::string query;
    ApiKey key;
    std::string correlation_id;
    TraceContext trace;
    std::chrono::steady_clock::time_point start;
    Metrics* metrics = nullptr;  // null with --no-metrics
    Respond respond;

    // The request's ids (correlation, trace, key, stream, route) for a log line.
    LogFields Fields() const;
    void Reply(HttpResponse res) const;
    void Fail(const ApiError& e) const { Reply(ErrorResponse(e)); }
    void Json(int status, std::string body) const { Reply(JsonResponse(status, std::move(body))); }
  };

  // The largest body `route` takes (RouteFacts::body in bytes).
  uint64_t BodyLimitOf(Route route) const;
  // An admitted request with its body: throttles, then dispatches.
  void Handle(Call& call, const RouteMatch& match);
  void Dispatch(Call& call, const RouteMatch& match);
  // 403 when `key` may not take a route with these facts (its scope, or an
  // admin key it is not).
  static std::optional<ApiError> CheckScope(const ApiKey& key, const RouteFacts& facts);
  // Operations: /readyz and /metrics (api_metrics.cc).
  void Ready(Call& call);
  void ServeMetrics(Call& call);
  // Consumer lag of every group of every stream, at scrape time.
  struct GroupLag {
    std::shared_ptr<Stream> stream;
    std::string group;
    uint64_t lag = 0;
  };
  std::vector<GroupLag> GroupLags();
  // Keys (api_keys.cc). An admin key of org "default" manages every org's
  // keys; an admin key of another org only its own org's.
  void Whoami(Call& call);
  void CreateKey(Call& call);
  void ListKeys(Call& call);
  void RevokeKey(Call& call, const std::string& id);
  // Streams
  void CreateStream(Call& call);
  void ListStreams(Call& call);
  void GetStream(Call& call, const std::string& ref);
  void PatchStream(Call& call, const std::string& ref);
  void DeleteStream(Call& call, const std::string& ref);
  // Retention and compaction now, for one stream or all of the key's org.
  void AdminCompact(Call& call);
  // What the Api caches per stream: its settings with the schema compiled
  // (built from the manifest on first use, replaced by PATCH, dropped with
  // the stream) and its metrics (null with --no-metrics).
  struct StreamCache {
    std::shared_ptr<const StreamSettings> settings;
    StreamMetrics* metrics = nullptr;
  };
  StreamCache CacheOf(Stream& stream);
  std::shared_ptr<const StreamSettings> SettingsOf(Stream& stream) {
    return CacheOf(stream).settings;
  }
  // Consumer groups
  void Poll(Call& call, const std::string& ref, const std::string& group);
  void CommitOffset(Call& call, const std::string& ref, const std::string& group);
  void Seek(Call& call, const std::string& ref, const std::string& group);
  void GetGroup(Call& call, const std::string& ref, const std::string& group);
  void ListGroups(Call& call, const std::string& ref);
  void DeleteGroup(Call& call, const std::string& ref, const std::string& group);
  // Nack and the dead-letter queue (api_dlq.cc).
  void Nack(Call& call, const std::string& ref, const std::string& group);
  void ListDlq(Call& call, const std::string& ref);
  void RetryDlq(Call& call, const std::string& ref, const std::string& event_id);
  void DiscardDlq(Call& call, const std::string& ref, const std::string& event_id);
  // The DLQ entries of `event_id` in the stream (one group's with
  // `?group_id=`), or nullopt with the error sent (404 when there are none).
  std::optional<std::vector<DlqEntry>> FindDlqEntries(const Call& call, const Stream& stream,
                                                      const std::string& event_id);
  // Finds the stream and, on the blocking pool, the entries a retry or
  // discard names, then runs `work` with them (errors are answered here).
  using DlqWork =
      std::function<void(Call&, const std::shared_ptr<Stream>&, const std::vector<DlqEntry>&)>;
  void WithDlqEntries(Call& call, const std::string& ref, const std::string& event_id,
                      DlqWork work);
  // Logs the warning and counts the metric of one dead-lettering.
  void ReportDeadLettered(const Call& call, const Stream& stream, const DlqEntry& entry);
  // Processing (api_processing.cc). Starts, reconfigures or leaves alone
  // the stream's processing: streams that have rules, or had them (their
  // view stays the truth for the events it covers), are processed.
  Status ConfigureProcessing(const std::shared_ptr<Stream>& stream, const StreamSettings& settings,
                             bool from_start);
  std::shared_ptr<ProcessedView> ViewOf(const Stream& stream) const {
    return processor_->Find(stream.manifest.stream_id);
  }
  // Where long-polls of the stream park: its processed view's frontier, or
  // the log's commit point.
  CommitWaiters& WaitersOf(const Stream& stream, ProcessedView* view) const {
    return view ? view->waiters() : stream.log->waiters();
  }
  // A processing-stage retry: appends the entry's raw event again, with a
  // new id and metadata.retry_of, and waits for its ack (blocking pool).
  Result<Uuid> AppendRetry(const std::shared_ptr<Stream>& stream, const DlqEntry& entry);
  // The data dir's key for retry ids (32 random bytes in the index's
  // state, made on first use).
  Result<std::string> RetrySecret();
  static constexpr char kRetrySecretKey[] = "secret/retry-ids";
  std::mutex retry_secret_mu_;
  std::string retry_secret_;
  class ProcessingReporter;
  // Events
  void Produce(Call& call, const std::string& ref, bool batch);
  // Reads the request's event or batch into `drafts`, checking payloads
  // against `schema` (if any) within `budget`. The error to answer, if any.
  std::optional<ApiError> ParseProduce(const Call& call, bool batch, const JsonSchema* schema,
                                       ValidationBudget* budget,
                                       std::vector<EventDraft>* drafts) const;
  // Hands parsed events to the stream's writer; answers on `io`.
  void AppendDrafts(const std::shared_ptr<Stream>& stream, std::shared_ptr<Call> done, bool batch,
                    std::vector<EventDraft> drafts, boost::asio::any_io_executor io);
  // Validation steps a produce request may take on its io thread (about a
  // third of a millisecond, docs/benchmarks.md "Validation budgets"); past
  // them it is validated on validation_.
  static constexpr uint64_t kInlineValidationSteps = 30'000;
  // Requests waiting for validation_ at most; more answer 503 overloaded.
  static constexpr int kMaxQueuedValidations = 64;
  void Replay(Call& call, const std::string& ref);
  void GetEvent(Call& call, const std::string& ref, const std::string& event_id);
  // False (and 415 sent) unless the request says application/json.
  bool CheckJsonContentType(const Call& call);
  // Whether a handler needs the stream's log. Only reading a stream's object
  // and deleting a stream or group work on a stream whose log failed to open.
  enum class StreamUse { kServed, kAnyState };
  // The caller's stream named by UUID or name, or nullptr with the call
  // failed: 404 when there is none, 503 when `use` needs a log it lacks.
  std::shared_ptr<Stream> FindStream(const Call& call, const std::string& ref,
                                     StreamUse use = StreamUse::kServed);
  // The same for a consumer-group call: also 400 for a bad group id.
  std::shared_ptr<Stream> FindGroupStream(const Call& call, const std::string& ref,
                                          const std::string& group);

  // Runs `work(call)` on the blocking pool, for handlers that write to disk
  // (manifests, synced RocksDB state): the call moves along with it.
  template <typename Work>
  void Offload(Call& call, Work work) {
    auto shared = std::make_shared<Call>(std::move(call));
    boost::asio::post(blocking_, [shared, work = std::move(work)]() mutable { work(*shared); });
  }

  // Parses the body as a JSON object (415/400 sent on failure).
  bool ParseBody(const Call& call, simdjson::dom::parser& parser, simdjson::dom::object* out);

  Engine* const engine_;
  // Redeliveries, dead markers and DLQ entries, beside the group positions.
  DeliveryStore deliveries_;
  KeyStore* const keys_;
  const ApiOptions options_;
  boost::asio::any_io_executor timers_;
  const std::unique_ptr<Metrics> metrics_;
  std::shared_mutex settings_mu_;
  std::unordered_map<Uuid, StreamCache, UuidHash> settings_;
  std::mutex patch_mu_;  // one settings change at a time, so manifest and cache agree
  // A group's position is read, checked and written under its stripe, so
  // commits and seeks of one group do not interleave; other groups proceed.
  std::mutex& GroupLock(const std::string& group_key) {
    return group_mu_[std::hash<std::string>()(group_key) % group_mu_.size()];
  }
  std::array<std::mutex, 64> group_mu_;
  ScanHints scan_hints_;                 // filtered runs polls need not read again
  std::atomic<size_t> parked_polls_{0};  // ParkedPolls alive
  // Takes a place for `group` of `stream` if it has none (a use of a group
  // with no position yet): QuotaExceeded past max_groups_per_stream. Call
  // under the group's GroupLock, then store its position.
  Status AdmitNewGroup(const Stream& stream, const std::string& group);
  // Makes `group` exist (a position with nothing committed) if it does not:
  // a group exists from its first poll.
  Status EnsureGroup(const Stream& stream, const std::string& group);
  // A group deleted; a stream deleted with all its groups.
  void ForgetGroup(const Stream& stream, const std::string& group);
  void ForgetGroups(const Stream& stream);
  // The names of `stream`'s groups, read from the index on first use (a
  // prefix scan) and kept up to date after; under group_names_mu_.
  Result<std::unordered_set<std::string>*> GroupNamesOf(const Stream& stream);
  std::mutex group_names_mu_;
  std::unordered_map<std::string, std::unordered_set<std::string>> group_names_;  // by stream id
  // Whether `adding` more bytes would take `org` past max_bytes_per_org; the
  // org's stored bytes are at most kOrgBytesMaxAgeMs old.
  bool OrgOverQuota(const std::string& org, uint64_t adding);
  static constexpr int64_t kOrgBytesMaxAgeMs = 1000;
  struct OrgBytes {
    uint64_t bytes = 0;
    int64_t at_ms = 0;
  };
  std::mutex org_bytes_mu_;
  std::unordered_map<std::string, OrgBytes> org_bytes_;
  // Durable index writes (fsync) run here, never on an io thread. Threads
  // waiting on an fsync cost no CPU, and RocksDB syncs concurrent writers
  // together, so more threads than cores serve more groups at once.
  boost::asio::thread_pool blocking_{8};
  // Produce requests whose schema checks need more than
  // kInlineValidationSteps run here, off the io threads and apart from the
  // durable writes above.
  boost::asio::thread_pool validation_{2};
  std::atomic<int> validations_queued_{0};
  // Declared last: the processor stops before what it reports to goes.
  std::unique_ptr<ProcessingReporter> reporter_;
  std::unique_ptr<Processor> processor_;
};

// Checks the JSON text rules simdjson does not: nesting depth (from the
// root of `e`) and duplicate keys in any object. Returns an error message.
std::optional<std::string> CheckJsonShape(simdjson::dom::element e, int max_depth = 64);

}  // namespace eventflow
