#include "client/producer.h"

#include <simdjson.h>

#include <future>

#include "formats/json_writer.h"
#include "formats/uuid.h"

namespace eventflow::client {
namespace {

void AppendField(std::string* out, const char* name, const std::string& value) {
  out->push_back(',');
  json::AppendString(out, name);
  out->push_back(':');
  json::AppendString(out, value);
}

void EnsureId(Event* event) {
  if (event->event_id.empty()) event->event_id = Uuid::Random().ToString();
}

PublishAck ParseAck(simdjson::dom::element e) {
  PublishAck ack;
  std::string_view s;
  if (!e["event_id"].get(s)) ack.event_id = std::string(s);
  if (!e["status"].get(s)) ack.duplicate = s == "DUPLICATE";
  if (!e["received_at"].get(s)) ack.received_at = std::string(s);
  int64_t offset = -1;
  if (!e["offset"].get(offset)) ack.offset = offset;
  return ack;
}

Result<PublishAck> ToAck(Result<HttpResponse> r) {
  if (!r.ok()) return r.error();
  if (r->status != 200 && r->status != 202) return ErrorFromResponse(*r);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(r->body).get(root)) {
    return MakeError(r->status, "bad_response", "unparsable publish answer");
  }
  return ParseAck(root);
}

Result<BatchAck> ToBatchAck(Result<HttpResponse> r) {
  if (!r.ok()) return r.error();
  if (r->status != 200 && r->status != 202) return ErrorFromResponse(*r);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array results;
  if (parser.parse(r->body).get(root) || root["results"].get(results)) {
    return MakeError(r->status, "bad_response", "unparsable batch answer");
  }
  BatchAck ack;
  for (simdjson::dom::element e : results) ack.results.push_back(ParseAck(e));
  int64_t n = 0;
  if (!root["accepted"].get(n)) ack.accepted = static_cast<int>(n);
  if (!root["duplicates"].get(n)) ack.duplicates = static_cast<int>(n);
  return ack;
}

}  // namespace

std::string StreamPath(const std::string& stream) {
  return "/api/v1/streams/" + stream + "/events";
}

void AppendEventJson(const Event& event, std::string* out) {
  out->append("{\"event_type\":");
  json::AppendString(out, event.event_type);
  out->append(",\"payload\":");
  out->append(event.payload_json);
  AppendField(out, "event_id", event.event_id);
  if (!event.key.empty()) AppendField(out, "key", event.key);
  if (!event.event_version.empty()) AppendField(out, "event_version", event.event_version);
  if (!event.occurred_at.empty()) AppendField(out, "occurred_at", event.occurred_at);
  if (!event.source.empty()) AppendField(out, "source", event.source);
  if (!event.correlation_id.empty() || !event.trace_id.empty()) {
    out->append(",\"context\":{");
    bool first = true;
    if (!event.trace_id.empty()) {
      out->append("\"trace_id\":");
      json::AppendString(out, event.trace_id);
      first = false;
    }
    if (!event.correlation_id.empty()) {
      if (!first) out->push_back(',');
      out->append("\"correlation_id\":");
      json::AppendString(out, event.correlation_id);
    }
    out->push_back('}');
  }
  out->push_back('}');
}

Result<std::unique_ptr<Producer>> Producer::Open(const ClientOptions& options) {
  auto http = HttpClient::Open(options);
  if (!http.ok()) return http.error();
  return std::unique_ptr<Producer>(new Producer(std::move(*http)));
}

void Producer::PublishAsync(const std::string& stream, Event event, Callback done) {
  EnsureId(&event);
  HttpRequest req;
  req.method = "POST";
  req.target = StreamPath(stream);
  req.correlation_id = event.correlation_id;
  AppendEventJson(event, &req.body);
  http_->Send(std::move(req),
              [done = std::move(done)](Result<HttpResponse> r) { done(ToAck(std::move(r))); });
}

Result<PublishAck> Producer::Publish(const std::string& stream, Event event) {
  std::promise<Result<PublishAck>> promise;
  auto future = promise.get_future();
  PublishAsync(stream, std::move(event),
               [&promise](Result<PublishAck> r) { promise.set_value(std::move(r)); });
  return future.get();
}

void Producer::PublishBatchAsync(const std::string& stream, std::vector<Event> events,
                                 BatchCallback done) {
  HttpRequest req;
  req.method = "POST";
  req.target = StreamPath(stream) + "/batch";
  req.body = "{\"events\":[";
  for (size_t i = 0; i < events.size(); ++i) {
    EnsureId(&events[i]);
    if (i > 0) req.body.push_back(',');
    AppendEventJson(events[i], &req.body);
  }
  req.body.append("]}");
  http_->Send(std::move(req),
              [done = std::move(done)](Result<HttpResponse> r) { done(ToBatchAck(std::move(r))); });
}

Result<BatchAck> Producer::PublishBatch(const std::string& stream, std::vector<Event> events) {
  std::promise<Result<BatchAck>> promise;
  auto future = promise.get_future();
  PublishBatchAsync(stream, std::move(events),
                    [&promise](Result<BatchAck> r) { promise.set_value(std::move(r)); });
  return future.get();
}

}  // namespace eventflow::client
