// HttpServer: the HTTP/1.1 listener (Boost.Asio + Beast). A fixed pool of io
// threads; one session per connection reads a request's header with a fresh
// parser (header limit, header and idle timeouts), asks the application
// whether to admit it (HttpAdmit: a refusal such as 401 is answered without
// reading the body), reads the body within the route's limit and a global
// in-flight budget (honouring Expect: 100-continue), hands the request to the
// handler, and writes the response when the handler completes it, maybe
// later from another thread. Pipelined requests are answered in order (the
// next one is read only after the previous answer is written). SIGTERM and
// SIGINT stop the listener; Run returns once in-flight requests are answered.
// With TlsFiles the listener speaks only TLS (TlsContext).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "formats/status.h"
#include "net/tls_context.h"

namespace eventflow {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;
// Completes a request; callable from any thread, exactly once.
using Respond = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest, Respond)>;
using HttpRequestHeader = boost::beast::http::request_header<>;

// What the application decides from a request's header, before any of its
// body is read.
struct Admission {
  // Answer this at once, read no body, close the connection (401).
  std::optional<HttpResponse> refusal;
  // The largest body the request may carry: past it 413, without reading it
  // when Content-Length says so.
  uint64_t body_limit = 64 * 1024;
  // Completes the request once its body is read (set unless refused).
  HttpHandler handle;
};
using HttpAdmit = std::function<Admission(const HttpRequestHeader&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  int io_threads = 2;
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  uint32_t max_header_bytes = 16 * 1024;
  // Bodies being read or handled at once, by Content-Length (or, chunked,
  // the route's limit): a request past it is answered 503 overloaded
  // before its body is read. One request is always let in.
  uint64_t max_inflight_body_bytes = 256u << 20;
  int max_connections = 20000;
  // Told the status of each answer the server gives itself to a request it
  // could not read or refused by its header (431, 413, 417, 400, 503) before
  // closing, for metrics.
  std::function<void(int status)> on_refused;
  // Speak TLS with these files (cert and key set), plain HTTP otherwise.
  // SIGHUP loads them again; connections already open keep theirs.
  TlsFiles tls;
};

class HttpServer {
 public:
  // Binds the listener; port 0 picks a free one.
  static Result<std::unique_ptr<HttpServer>> Bind(const HttpServerOptions& options,
                                                  HttpAdmit admit);
  ~HttpServer();
  std::string host() const;
  unsigned short port() const;
  // Serves until SIGTERM/SIGINT or Stop(); `on_stop` runs (on an io thread)
  // when the stop begins, e.g. to answer parked long-polls.
  // `before_accept` runs on this thread once the io threads run, before the
  // first connection is accepted. Returns false if the io threads could not
  // be started (nothing was served).
  bool Run(std::function<void()> on_stop = {}, std::function<void()> before_accept = {});
  void Stop();
  size_t open_connections() const;
  // How the io threads wait for sockets and timers: "io_uring" or "epoll"
  // (chosen when the server is built: EVENTFLOW_IO_URING in CMakeLists.txt).
  static const char* IoBackend();
  // The first io thread's executor.
  boost::asio::any_io_executor executor() const;
  // The executor of the io thread that calls this (each runs its own
  // connections), so work a handler leaves for later (a parked long-poll)
  // runs beside its connection; `fallback` when called from another thread.
  static boost::asio::any_io_executor ThisThreadExecutor(boost::asio::any_io_executor fallback);

  struct Impl;  // defined in the .cc; public only so its sessions can name it

 private:
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace eventflow
