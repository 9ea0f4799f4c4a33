// HealthServer: the HTTP/1.1 listener (Boost.Asio + Beast) that `eventflow
// serve` runs. For now it answers GET /healthz and GET /readyz; the REST
// contract's routes land on it next. A fixed pool of io threads; keep-alive;
// a read timeout per request; SIGTERM/SIGINT stop it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "formats/status.h"

namespace eventflow {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  unsigned short port = 8080;
  int io_threads = 2;
  int header_timeout_ms = 10000;
  // True while storage is writable (for /readyz).
  std::function<bool()> ready = [] { return true; };
};

class HealthServer {
 public:
  // Binds the listener; port 0 picks a free one.
  static Result<std::unique_ptr<HealthServer>> Bind(const HttpServerOptions& options);
  ~HealthServer();
  std::string host() const;
  unsigned short port() const;
  // Serves until SIGTERM/SIGINT or Stop(); returns once every io thread ended.
  void Run();
  void Stop();

 private:
  struct Impl;
  explicit HealthServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eventflow
