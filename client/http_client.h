// HttpClient: the transport under Producer and Consumer. Async HTTP/1.1 with
// keep-alive over Boost.Beast, a pool of connections to one EventFlow
// server, and the retry policy (connection errors, timeouts, 429 honouring
// Retry-After, 502/503/504; capped exponential backoff with full jitter).
//
// Lifecycle: Open() starts one io thread; the destructor lets requests under
// way finish (retries stop early) and joins it. Thread safety: every public
// call may be made from any thread; callbacks run on the io thread and must
// not block (they may call Send again). The *Sync calls must not be made on
// the io thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "client/backoff.h"
#include "client/result.h"

namespace eventflow::client {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string api_key;
  // Most connections open at once; requests beyond it wait for one.
  size_t max_connections = 64;
  std::chrono::milliseconds connect_timeout{3000};
  // Time for one attempt's write + read (long polls add their own wait).
  std::chrono::milliseconds request_timeout{10000};
  // Attempts per request, the first included. 1 disables retries.
  int max_attempts = 8;
  Backoff backoff;
  // Retry-After above this is not waited for: the request fails instead.
  std::chrono::milliseconds max_retry_after{30000};

  // "host:port" -> host and port; false when malformed.
  bool SetAddress(const std::string& host_port);
};

struct HttpRequest {
  std::string method = "GET";  // GET, POST, DELETE, PATCH
  std::string target;          // "/api/v1/streams/s/events"
  std::string body;            // sent as application/json when not empty
  std::string correlation_id;  // X-Correlation-ID, when not empty
  std::string traceparent;     // W3C traceparent, when not empty
  // Added to the attempt timeout (for long polls).
  std::chrono::milliseconds extra_timeout{0};
  // False: one attempt only, whatever ClientOptions::max_attempts says.
  bool retry = true;
};

inline HttpRequest MakeRequest(std::string method, std::string target) {
  HttpRequest req;
  req.method = std::move(method);
  req.target = std::move(target);
  return req;
}

struct HttpResponse {
  int status = 0;
  std::string body;
  int attempts = 0;  // attempts it took, the first included
};

// Counters since Open, for tests and benchmarks.
struct HttpStats {
  uint64_t requests = 0;
  uint64_t attempts = 0;
  uint64_t retries_429 = 0;
  uint64_t retries_5xx = 0;
  uint64_t retries_transport = 0;
  uint64_t connections_opened = 0;
};

class HttpClient {
 public:
  using Callback = std::function<void(Result<HttpResponse>)>;

  static Result<std::unique_ptr<HttpClient>> Open(const ClientOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `req`, retrying per the options, and calls `done` once with the
  // final HTTP answer (any status: a 400 is a response, not an Error) or an
  // Error when no answer came (http_status 0).
  void Send(HttpRequest req, Callback done);
  Result<HttpResponse> SendSync(HttpRequest req);

  HttpStats stats() const;
  const ClientOptions& options() const { return options_; }

 private:
  class Impl;
  explicit HttpClient(const ClientOptions& options);
  ClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Turns a non-2xx answer into an Error with the server's code, message and
// details (from the standard error body).
Error ErrorFromResponse(const HttpResponse& response);

}  // namespace eventflow::client
