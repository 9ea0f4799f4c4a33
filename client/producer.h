// Producer: publishes events to EventFlow streams, one at a time or in
// batches, async (callback) or blocking. Every event gets a client-made
// UUIDv4 event_id before its first attempt unless the caller set one, so a
// retried publish is answered DUPLICATE instead of storing a second event.
// Retries (connection errors, timeouts, 429, 503) are HttpClient's; a 4xx
// comes back as an Error with the server's code and details.
//
// Thread safety: all calls may be made from any thread at once; callbacks
// run on the client's io thread and must not block.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/http_client.h"
#include "client/result.h"

namespace eventflow::client {

struct Event {
  std::string event_type;      // required
  std::string payload_json;    // required: a JSON object, as text
  std::string event_id;        // empty: a new UUIDv4 is set at publish
  std::string key;             // empty: no key
  std::string event_version;   // empty: the server's "v1"
  std::string occurred_at;     // RFC 3339, or empty
  std::string source;          // empty: the API key's name
  std::string correlation_id;  // context.correlation_id, or empty
  std::string trace_id;        // context.trace_id (32 hex), or empty
};

struct PublishAck {
  std::string event_id;
  bool duplicate = false;  // the server already had this event_id
  int64_t offset = -1;
  std::string received_at;
};

struct BatchAck {
  std::vector<PublishAck> results;  // in the order of the batch
  int accepted = 0;
  int duplicates = 0;
};

class Producer {
 public:
  using Callback = std::function<void(Result<PublishAck>)>;
  using BatchCallback = std::function<void(Result<BatchAck>)>;

  static Result<std::unique_ptr<Producer>> Open(const ClientOptions& options);

  void PublishAsync(const std::string& stream, Event event, Callback done);
  Result<PublishAck> Publish(const std::string& stream, Event event);
  // All or nothing, as the server's batch call: on a 4xx no event is stored
  // and the Error's details name the index of each bad event.
  void PublishBatchAsync(const std::string& stream, std::vector<Event> events, BatchCallback done);
  Result<BatchAck> PublishBatch(const std::string& stream, std::vector<Event> events);

  HttpClient& http() { return *http_; }

 private:
  explicit Producer(std::unique_ptr<HttpClient> http) : http_(std::move(http)) {}
  std::unique_ptr<HttpClient> http_;
};

// The JSON body of one event, for the single and batch calls.
void AppendEventJson(const Event& event, std::string* out);
// The request path for a stream's events ("/api/v1/streams/NAME/events").
std::string StreamPath(const std::string& stream);

}  // namespace eventflow::client
