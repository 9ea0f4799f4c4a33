#include "net/http_server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "formats/thread_name.h"
#include "net/api_error.h"
#include "net/trace_context.h"

namespace eventflow {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopping{false};
  std::atomic<int> busy{0};  // requests handed to the handler, not yet written
  std::function<void()> on_stop;
  std::optional<asio::steady_timer> drain_timer;
  int drain_polls = 0;

  // Stops the io threads once no request is in flight (idle keep-alive
  // connections are dropped), or after 30 s whatever is left.
  void DrainThenStop();

  void Accept();
  void BeginStop();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {
    ++server_->connections;
  }
  ~Session() { --server_->connections; }

  void Start() { Read(/*first=*/true); }

 private:
  void Read(bool first) {
    parser_.emplace();
    parser_->header_limit(server_->options.max_header_bytes);
    parser_->body_limit(server_->options.max_body_bytes);
    // The first request of a connection and each later one must arrive in
    // time: the idle timeout between requests, the header timeout for a
    // request that has started. Slow clients are cut off either way.
    const int ms = first || buffer_.size() > 0 ? server_->options.header_timeout_ms
                                               : server_->options.idle_timeout_ms;
    stream_.expires_after(std::chrono::milliseconds(ms));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    // Beast reads as much as the buffer has room for, at least 512 bytes,
    // and the parser empties it as it goes: without room made here a 200 KB
    // batch would arrive in ~400 reads (and timer re-arms). Room is made
    // for large bodies only and given back after, so idle connections stay
    // small.
    if (const auto length = parser_->content_length(); length && *length > kSmallBody) {
      buffer_.reserve(static_cast<size_t>(std::min<uint64_t>(*length, kLargeRead)));
    }
    stream_.expires_after(std::chrono::milliseconds(server_->options.header_timeout_ms));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return Close();
    }
    // A malformed request gets one clear answer, then the connection closes:
    // after a framing error the rest of the stream cannot be trusted.
    HttpResponse res;
    if (ec == http::error::header_limit) {
      res =
          ErrorResponse(ApiError{431, "header_too_large",
                                 "request header is larger than " +
                                     std::to_string(server_->options.max_header_bytes) + " bytes"});
    } else if (ec == http::error::body_limit) {
      res = ErrorResponse(ApiError{413, "body_too_large",
                                   "request body is larger than " +
                                       std::to_string(server_->options.max_body_bytes) + " bytes"});
    } else if (ec == http::error::partial_message) {
      return Close();  // the peer went away mid-request
    } else {
      res = ErrorResponse(ApiError{400, "bad_request", "malformed HTTP request: " + ec.message()});
    }
    res.keep_alive(false);
    if (server_->options.on_refused) server_->options.on_refused(res.result_int());
    // The request could not be read, so its trace is unknown: a new one.
    res.set("traceparent", TraceContext::ForRequest("").Traceparent());
    Write(std::move(res));
  }

  void OnBody(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (buffer_.capacity() > kSmallBody && buffer_.size() == 0) buffer_.shrink_to_fit();
    stream_.expires_never();  // the handler may park (long-poll); it bounds itself
    ++server_->busy;
    HttpRequest req = parser_->release();
    const bool keep_alive = req.keep_alive() && !server_->stopping;
    const unsigned version = req.version();
    auto self = shared_from_this();
    counted_ = true;
    server_->handler(std::move(req), [self, keep_alive, version](HttpResponse res) {
      res.version(version);
      res.keep_alive(keep_alive && res.keep_alive());
      asio::post(self->stream_.get_executor(),
                 [self, res = std::move(res)]() mutable { self->Write(std::move(res)); });
    });
  }

  void Write(HttpResponse res) {
    res.prepare_payload();
    auto shared = std::make_shared<HttpResponse>(std::move(res));
    stream_.expires_after(std::chrono::milliseconds(server_->options.idle_timeout_ms));
    http::async_write(stream_, *shared,
                      [self = shared_from_this(), shared](beast::error_code ec, size_t) {
                        if (self->counted_) --self->server_->busy;
                        self->counted_ = false;
                        if (ec || !shared->keep_alive()) return self->Close();
                        self->Read(/*first=*/false);
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  static constexpr uint64_t kSmallBody = 16 * 1024;
  static constexpr uint64_t kLargeRead = 256 * 1024;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> server_;
  bool counted_ = false;  // this session holds one count of server_->busy
};

}  // namespace

void HttpServer::Impl::Accept() {
  acceptor.async_accept(
      asio::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
        if (ec == asio::error::operation_aborted || self->stopping) return;
        if (ec) {
          spdlog::warn("accept failed: {}", ec.message());
        } else if (self->connections.load() >= static_cast<size_t>(self->options.max_connections)) {
          beast::error_code ignored;
          s.close(ignored);  // over the limit: refuse at once rather than queue
        } else {
          std::make_shared<Session>(std::move(s), self)->Start();
        }
        self->Accept();
      });
}

void HttpServer::Impl::BeginStop() {
  if (stopping.exchange(true)) return;
  beast::error_code ignored;
  acceptor.close(ignored);
  signals.cancel(ignored);
  if (on_stop) on_stop();
  DrainThenStop();
}

void HttpServer::Impl::DrainThenStop() {
  if (busy.load() == 0 || ++drain_polls > 600) {
    io.stop();
    return;
  }
  drain_timer.emplace(io, std::chrono::milliseconds(50));
  drain_timer->async_wait(
      [self = shared_from_this()](beast::error_code) { self->DrainThenStop(); });
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::Bind(const HttpServerOptions& options,
                                                     HttpHandler handler) {
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("bad listen address '" + options.host + "'");
  const tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::IOError("listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                           ec.message());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::string HttpServer::host() const {
  return impl_->acceptor.local_endpoint().address().to_string();
}
unsigned short HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }
size_t HttpServer::open_connections() const { return impl_->connections.load(); }
boost::asio::any_io_executor HttpServer::executor() const { return impl_->io.get_executor(); }

void HttpServer::Run(std::function<void()> on_stop) {
  impl_->on_stop = std::move(on_stop);
  impl_->signals.async_wait([impl = impl_](beast::error_code ec, int) {
    if (!ec) impl->BeginStop();
  });
  impl_->Accept();
  // io.run() returns when no work is left: the listener is closed and every
  // session has written its last answer and gone.
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->options.io_threads; ++i) {
    threads.emplace_back([impl = impl_] {
      NameThisThread("ef-io");
      impl->io.run();
    });
  }
  impl_->io.run();
  for (auto& t : threads) t.join();
}

void HttpServer::Stop() {
  asio::post(impl_->io, [impl = impl_] { impl->BeginStop(); });
}

}  // namespace eventflow
