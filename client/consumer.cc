#include "client/consumer.h"

#include <simdjson.h>

#include <thread>

#include "formats/json_writer.h"

namespace eventflow::client {
namespace {

std::string Str(simdjson::dom::element e, const char* pointer) {
  std::string_view s;
  if (e.at_pointer(pointer).get(s)) return {};
  return std::string(s);
}

}  // namespace

Result<std::vector<ReceivedEvent>> ParseEvents(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array events;
  if (parser.parse(body).get(root) || root["events"].get(events)) {
    return MakeError(200, "bad_response", "unparsable poll answer");
  }
  std::vector<ReceivedEvent> out;
  for (simdjson::dom::element e : events) {
    ReceivedEvent ev;
    ev.event_id = Str(e, "/event_id");
    int64_t offset = -1;
    if (!e["offset"].get(offset)) ev.offset = offset;
    ev.key = Str(e, "/key");
    ev.event_type = Str(e, "/metadata/event_type");
    ev.correlation_id = Str(e, "/metadata/context/correlation_id");
    ev.trace_id = Str(e, "/metadata/context/trace_id");
    simdjson::dom::element payload;
    if (!e["payload"].get(payload)) ev.payload_json = simdjson::minify(payload);
    ev.raw_json = simdjson::minify(e);
    out.push_back(std::move(ev));
  }
  return out;
}

Result<std::unique_ptr<Consumer>> Consumer::Open(const ClientOptions& client,
                                                 ConsumerOptions options, Handler handler) {
  if (options.stream.empty() || options.group.empty() || !handler) {
    return MakeError(0, "invalid_argument", "a consumer needs a stream, a group and a handler");
  }
  auto http = HttpClient::Open(client);
  if (!http.ok()) return http.error();
  return std::unique_ptr<Consumer>(
      new Consumer(std::move(*http), std::move(options), std::move(handler)));
}

std::string Consumer::GroupPath() const {
  return "/api/v1/streams/" + options_.stream + "/consumer-groups/" + options_.group;
}

ConsumerStats Consumer::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

Status Consumer::LoadPosition() {
  auto r = http_->SendSync(MakeRequest("GET", GroupPath()));
  if (!r.ok()) return r.error();
  if (r->status == 404) {  // not used yet: starts at the beginning
    position_loaded_ = true;
    return Status::Ok();
  }
  if (r->status != 200) return ErrorFromResponse(*r);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(r->body).get(root)) return MakeError(200, "bad_response", "group answer");
  int64_t committed = 0;
  if (!root["committed_offset"].get(committed)) committed_offset_ = committed;
  position_loaded_ = true;
  return Status::Ok();
}

Status Consumer::Commit(const std::string& event_id) {
  HttpRequest req = MakeRequest("POST", GroupPath() + "/offsets");
  req.body = "{\"last_event_id\":" + json::Quote(event_id) + "}";
  auto r = http_->SendSync(std::move(req));
  if (!r.ok()) return r.error();
  if (r->status != 200) return ErrorFromResponse(*r);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  int64_t committed = 0;
  if (!parser.parse(r->body).get(root) && !root["committed_offset"].get(committed)) {
    committed_offset_ = committed;
  }
  std::lock_guard lock(stats_mu_);
  ++stats_.commits;
  return Status::Ok();
}

Status Consumer::Nack(const ReceivedEvent& event, const std::string& reason) {
  const int attempt = ++failures_[event.event_id];
  // Half the ceiling plus a random half: grows with every failure, jittered.
  const auto ceiling = options_.nack_backoff.Ceiling(attempt);
  const auto delay =
      ceiling / 2 + std::chrono::milliseconds(static_cast<int64_t>(
                        RandomBits() % static_cast<uint64_t>(ceiling.count() / 2 + 1)));
  HttpRequest req = MakeRequest("POST", GroupPath() + "/nack");
  req.body = "{\"event_id\":" + json::Quote(event.event_id) +
             ",\"reason\":" + json::Quote(reason.substr(0, 4000)) +
             ",\"delay_ms\":" + std::to_string(delay.count()) + "}";
  auto r = http_->SendSync(std::move(req));
  if (!r.ok()) return r.error();
  if (r->status != 200) return ErrorFromResponse(*r);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool dead = false;
  if (!parser.parse(r->body).get(root) && root["dead_lettered"].get(dead)) dead = false;
  std::lock_guard lock(stats_mu_);
  ++stats_.failed;
  stats_.nack_delays_ms.push_back(delay.count());
  if (dead) {
    ++stats_.dead_lettered;
    failures_.erase(event.event_id);
  }
  return Status::Ok();
}

// A 409 on a commit or nack means the group moved on without this consumer
// (another member committed further, the event was dead-lettered or settled
// meanwhile): nothing to undo, so it is counted and the loop goes on.
bool Consumer::Tolerated(const Status& s) {
  if (s.error().http_status != 409) return false;
  std::lock_guard lock(stats_mu_);
  ++stats_.conflicts;
  return true;
}

Result<int> Consumer::PollOnce() {
  if (!position_loaded_) {
    const Status s = LoadPosition();
    if (!s.ok()) return s.error();
  }
  HttpRequest req =
      MakeRequest("GET", GroupPath() + "/events?limit=" + std::to_string(options_.max_events) +
                             "&timeout=" + std::to_string(options_.poll_timeout.count()));
  req.extra_timeout = options_.poll_timeout;
  auto r = http_->SendSync(std::move(req));
  if (!r.ok()) return r.error();
  if (r->status != 200) return ErrorFromResponse(*r);
  auto events = ParseEvents(r->body);
  if (!events.ok()) return events.error();
  {
    std::lock_guard lock(stats_mu_);
    ++stats_.polls;
  }

  std::string to_commit;  // the highest handled event above the position
  int since_commit = 0;
  for (const ReceivedEvent& ev : *events) {
    if (stop_) break;
    const bool owed =
        (committed_offset_ && ev.offset <= *committed_offset_) || failures_.count(ev.event_id) > 0;
    bool skip = options_.processed != nullptr && options_.processed->Contains(ev.event_id);
    if (!skip) {
      const Status s = handler_(ev);
      if (!s.ok()) {
        const Status n = Nack(ev, s.error().ToString());
        if (!n.ok() && !Tolerated(n)) return n.error();
        continue;
      }
      if (options_.processed != nullptr) {
        const Status a = options_.processed->Add(ev.event_id);
        if (!a.ok()) return a.error();
      }
    }
    {
      std::lock_guard lock(stats_mu_);
      ++(skip ? stats_.skipped : stats_.handled);
    }
    if (owed) {
      // Only a commit of this very id settles a redelivery.
      const Status c = Commit(ev.event_id);
      if (!c.ok() && !Tolerated(c)) return c.error();
      failures_.erase(ev.event_id);
      continue;
    }
    to_commit = ev.event_id;
    if (options_.commit_every > 0 && ++since_commit >= options_.commit_every) {
      const Status c = Commit(to_commit);
      if (!c.ok() && !Tolerated(c)) return c.error();
      to_commit.clear();
      since_commit = 0;
    }
  }
  if (!to_commit.empty()) {
    const Status c = Commit(to_commit);
    if (!c.ok() && !Tolerated(c)) return c.error();
  }
  return static_cast<int>(events->size());
}

Status Consumer::Run() {
  int failures = 0;
  while (!stop_) {
    auto r = PollOnce();
    if (r.ok()) {
      failures = 0;
      continue;
    }
    if (!r.error().retryable()) return r.error();
    // The server is away (HttpClient already retried): wait and poll again.
    const auto wait = options_.nack_backoff.Delay(++failures);
    const auto until = std::chrono::steady_clock::now() + wait;
    while (!stop_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return Status::Ok();
}

}  // namespace eventflow::client
