#include "net/http_server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <cerrno>
#include <exception>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "formats/thread_name.h"
#include "net/api_error.h"
#include "net/tls_context.h"
#include "net/trace_context.h"

namespace eventflow {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions options;
  HttpAdmit admit;
  // One io_context per io thread, each run by that thread alone: a
  // connection lives on one context for its whole life, so its handlers
  // need no strand and the threads share no scheduler queue or lock (a
  // shared context with strands cost ~12% more CPU per small request,
  // measured in docs/benchmarks.md). `io` is the first context: the
  // listener, signals and the drain timer live on it.
  asio::io_context io{1};
  std::vector<std::unique_ptr<asio::io_context>> more_io;  // the other threads'
  // Keeps every context running while it has no connection, until the stop.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  size_t next_context = 0;  // round robin over contexts for new connections
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};
  // With TLS: the context new connections handshake with, replaced by
  // SIGHUP (read and written on `io` only: the acceptor's and the signal's
  // handlers run there). Null for plain HTTP.
  std::shared_ptr<asio::ssl::context> tls;
  asio::signal_set reload_signals{io};
  // Waits for SIGHUP and loads the certificate files again; a failure keeps
  // the context in use and is logged.
  void WaitForReload();
  std::atomic<size_t> connections{0};
  std::atomic<bool> stopping{false};
  std::atomic<int> busy{0};                      // requests handed to the handler, not yet written
  std::atomic<uint64_t> inflight_body_bytes{0};  // reserved by sessions (ReserveBody)
  std::function<void()> on_stop;
  std::optional<asio::steady_timer> drain_timer;
  int drain_polls = 0;

  // Stops the io threads once no request is in flight (idle keep-alive
  // connections are dropped), or after 30 s whatever is left.
  void DrainThenStop();

  // Counts `n` body bytes against options.max_inflight_body_bytes; false
  // (nothing counted) past it, unless nothing else is counted.
  bool ReserveBody(uint64_t n) {
    if (n == 0) return true;
    uint64_t now = inflight_body_bytes.load(std::memory_order_relaxed);
    do {
      if (now != 0 && now + n > options.max_inflight_body_bytes) return false;
    } while (!inflight_body_bytes.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
    return true;
  }
  void ReleaseBody(uint64_t n) {
    if (n != 0) inflight_body_bytes.fetch_sub(n, std::memory_order_relaxed);
  }

  void Accept();
  // Logs (at most every 10 s) and, when out of descriptors, waits before
  // accepting again.
  void AcceptFailed(beast::error_code ec);
  static constexpr int kMinAcceptBackoffMs = 10;
  static constexpr int kMaxAcceptBackoffMs = 1000;
  int accept_backoff_ms = 0;
  asio::steady_timer accept_timer{io};
  std::chrono::steady_clock::time_point last_accept_warning{};
  uint64_t accept_failures = 0;
  void BeginStop();
  void StopAll();
  asio::io_context& NextContext();
};

namespace {

// The context the calling io thread runs (ThisThreadExecutor); null on
// other threads.
thread_local asio::io_context* this_thread_context = nullptr;

// How the io threads wait (CMakeLists.txt, EVENTFLOW_IO_URING), and what to
// add to a failure to set them up.
#ifdef EVENTFLOW_IO_URING
constexpr char kIoBackend[] = "io_uring";
constexpr char kIoBackendHint[] =
    " (this build uses io_uring, which this kernel or its sandbox may refuse; "
    "build with -DEVENTFLOW_IO_URING=OFF for epoll)";
#else
constexpr char kIoBackend[] = "epoll";
constexpr char kIoBackendHint[] = "";
#endif

// Runs `context` on this thread until it is stopped.
void RunContext(asio::io_context& context) {
  this_thread_context = &context;
  context.run();
  this_thread_context = nullptr;
}

// The TCP socket under a connection's stream: the stream itself for plain
// HTTP, the layer below TLS otherwise.
using TlsStream = asio::ssl::stream<tcp::socket>;
tcp::socket& Socket(tcp::socket& s) { return s; }
tcp::socket& Socket(TlsStream& s) { return s.next_layer(); }

// One connection, over `Stream`: tcp::socket, or TlsStream when the
// listener speaks TLS (the handshake runs first, under the header timeout).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;
  using std::enable_shared_from_this<Session<Stream>>::weak_from_this;
  // `tls` keeps the context the stream was made with alive (it may be
  // replaced by a reload meanwhile).
  Session(Stream stream, std::shared_ptr<HttpServer::Impl> server,
          std::shared_ptr<asio::ssl::context> tls = nullptr)
      : socket_(std::move(stream)),
        deadline_timer_(socket_.get_executor()),
        server_(std::move(server)),
        tls_(std::move(tls)) {
    ++server_->connections;
  }
  ~Session() {
    --server_->connections;
    ReleaseBody();
  }

  void Start() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      ExpiresAfter(server_->options.header_timeout_ms);
      socket_.async_handshake(asio::ssl::stream_base::server,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (ec) {
                                  spdlog::debug("TLS handshake failed: {}", ec.message());
                                  return self->Close();
                                }
                                self->Read(/*first=*/true);
                              });
    } else {
      Read(/*first=*/true);
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  // The connection's one deadline (header, idle or write timeout). Moving
  // it is a store: the timer, armed at most the shortest timeout ahead (so
  // never later than a deadline set after it), closes the socket when it
  // fires past the deadline and otherwise waits again. A timer wait and
  // cancel per read and per write (what a beast::tcp_stream with an expiry
  // does) cost ~9% more server CPU per request under single-event producers.
  void ExpiresAfter(int ms) {
    deadline_ = Clock::now() + std::chrono::milliseconds(ms);
    if (!timer_armed_) ArmDeadlineTimer();
  }
  void ExpiresNever() { deadline_ = Clock::time_point::max(); }

  void ArmDeadlineTimer() {
    const int shortest =
        std::min(server_->options.header_timeout_ms, server_->options.idle_timeout_ms);
    timer_armed_ = true;
    deadline_timer_.expires_at(
        std::min(deadline_, Clock::now() + std::chrono::milliseconds(shortest)));
    // A weak reference: a closed connection ends without waiting for this.
    deadline_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->timer_armed_ = false;
      if (self->deadline_ == Clock::time_point::max()) return;  // rearmed when set
      if (Clock::now() < self->deadline_) return self->ArmDeadlineTimer();
      // Late: the pending read or write completes with operation_aborted.
      beast::error_code ignored;
      Socket(self->socket_).close(ignored);
    });
  }

  void Read(bool first) {
    parser_.emplace();
    parser_->header_limit(server_->options.max_header_bytes);
    // The route's limit is set once the header is admitted (OnHeader); no
    // limit before, so a Content-Length over it is answered by the route.
    parser_->body_limit(boost::none);
    // A request must arrive within the header timeout from its first byte;
    // between requests of a keep-alive connection the idle timeout runs
    // until that byte. (Reading the header under the idle timeout let a
    // client hold a connection with one header byte a minute.)
    if (first || buffer_.size() > 0) return ReadHeader();
    ExpiresAfter(server_->options.idle_timeout_ms);
    socket_.async_read_some(buffer_.prepare(beast::read_size(buffer_, kFirstRead)),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->OnReadError(ec);
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  // Reads (the rest of) a request's header under the header timeout,
  // parsing what the buffer holds first.
  void ReadHeader() {
    ExpiresAfter(server_->options.header_timeout_ms);
    beast::error_code ec;
    while (!parser_->is_header_done() && buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return OnReadError(ec);
      if (used == 0) break;
    }
    if (parser_->is_header_done()) return OnHeader({});
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // RFC 9112 section 6.3: a Transfer-Encoding other than exactly "chunked",
  // or one beside a Content-Length, leaves the body's length unknown: a
  // server that guessed it would read the rest as another request.
  static bool AmbiguousFraming(const http::request_parser<http::string_body>& parser) {
    const auto& h = parser.get();
    const size_t te = h.count(http::field::transfer_encoding);
    if (te == 0) return false;
    return te > 1 || !beast::iequals(h[http::field::transfer_encoding], "chunked") ||
           h.count(http::field::content_length) > 0;
  }

  // Everything decided from the header: framing, the application's
  // admission (key, route), the route's body limit, Expect, and the
  // in-flight body budget. Refusals here read no body.
  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (AmbiguousFraming(*parser_)) {
      return Refuse(ApiError{400, "bad_request",
                             "Transfer-Encoding must be exactly \"chunked\", without "
                             "Content-Length"});
    }
    const HttpRequestHeader& header = parser_->get();
    Admission admission = server_->admit(header);
    if (admission.refusal) return Refuse(std::move(*admission.refusal), /*counted=*/true);
    handle_ = std::move(admission.handle);
    const uint64_t limit = admission.body_limit;
    body_limit_ = limit;
    const auto length = parser_->content_length();
    if (length && *length > limit) return Refuse(BodyTooLarge(limit));
    parser_->body_limit(limit);
    bool send_continue = false;
    if (const auto expect = header[http::field::expect]; !expect.empty()) {
      if (!beast::iequals(expect, "100-continue")) {
        return Refuse(
            ApiError{417, "expectation_failed", "the only expectation understood is 100-continue"});
      }
      // RFC 9110 section 10.1.1: an HTTP/1.0 request's expectation is ignored;
      // a client that sent its body already needs no invitation.
      send_continue = header.version() >= 11 && buffer_.size() == 0 && !parser_->is_done();
    }
    // Chunked bodies have no length to count: they are counted at the limit.
    const uint64_t body_bytes = length ? *length : (parser_->chunked() ? limit : 0);
    if (!server_->ReserveBody(body_bytes)) {
      HttpResponse res = ErrorResponse(
          ApiError{503, "overloaded", "too many request bodies are being read; retry shortly"});
      res.set(http::field::retry_after, "1");
      return Refuse(std::move(res));
    }
    reserved_body_bytes_ = body_bytes;
    if (!send_continue) return ReadBody();
    ExpiresAfter(server_->options.header_timeout_ms);
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        self->ReadBody();
                      });
  }

  ApiError BodyTooLarge(uint64_t limit) const {
    return ApiError{
        413, "body_too_large",
        "request body is larger than " + std::to_string(limit) + " bytes, the limit of this route"};
  }

  void ReadBody() {
    beast::error_code ec;
    // A small request usually arrives whole in the read that brought its
    // header: parse the body from the buffer here instead of starting a read
    // that would only post its completion back to this thread.
    while (!parser_->is_done() && buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) return OnReadError(ec);
      if (used == 0) break;
    }
    if (parser_->is_done()) return OnBody(ec);
    // Beast reads as much as the buffer has room for, at least 512 bytes,
    // and the parser empties it as it goes: without room made here a 200 KB
    // batch would arrive in ~400 reads (and timer re-arms). Room is made
    // for large bodies only and given back after, so idle connections stay
    // small.
    if (const auto length = parser_->content_length(); length && *length > kSmallBody) {
      buffer_.reserve(static_cast<size_t>(std::min<uint64_t>(*length, kLargeRead)));
    }
    ExpiresAfter(server_->options.header_timeout_ms);
    http::async_read(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
      return Close();
    }
    // A TLS failure (a bad record, a peer gone without close_notify) leaves
    // no channel to answer on.
    if (ec.category() == asio::error::get_ssl_category() ||
        ec == asio::ssl::error::stream_truncated) {
      return Close();
    }
    // A malformed request gets one clear answer, then the connection closes:
    // after a framing error the rest of the stream cannot be trusted.
    if (ec == http::error::header_limit) {
      return Refuse(ApiError{431, "header_too_large",
                             "request header is larger than " +
                                 std::to_string(server_->options.max_header_bytes) + " bytes"});
    }
    if (ec == http::error::body_limit) {  // a chunked body past the route's limit
      return Refuse(BodyTooLarge(body_limit_));
    }
    if (ec == http::error::partial_message) return Close();  // the peer went away mid-request
    Refuse(ApiError{400, "bad_request", "malformed HTTP request: " + ec.message()});
  }

  // Answers a request whose body is not (all) read, then closes the
  // connection; `counted` when the application made (and counted) it.
  void Refuse(const ApiError& e) { Refuse(ErrorResponse(e)); }
  void Refuse(HttpResponse res, bool counted = false) {
    res.keep_alive(false);
    if (!counted && server_->options.on_refused) server_->options.on_refused(res.result_int());
    // The request could not be read, so its trace is unknown: a new one.
    if (!counted) res.set("traceparent", TraceContext::ForRequest("").Traceparent());
    unread_input_ = true;
    Write(std::move(res));
  }

  void OnBody(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    if (buffer_.capacity() > kSmallBody && buffer_.size() == 0) buffer_.shrink_to_fit();
    ExpiresNever();  // the handler may park (long-poll); it bounds itself
    ++server_->busy;
    HttpRequest req = parser_->release();
    const bool keep_alive = req.keep_alive() && !server_->stopping;
    const unsigned version = req.version();
    auto self = shared_from_this();
    counted_ = true;
    HttpHandler handle = std::move(handle_);
    handle(std::move(req), [self, keep_alive, version](HttpResponse res) {
      res.version(version);
      res.keep_alive(keep_alive && res.keep_alive());
      // On the connection's own io thread (most answers) this writes at
      // once; from another thread it is queued to that one.
      asio::dispatch(self->socket_.get_executor(),
                     [self, res = std::move(res)]() mutable { self->Write(std::move(res)); });
    });
  }

  void Write(HttpResponse res) {
    res.prepare_payload();
    const bool keep_alive = res.keep_alive();
    auto out = std::make_shared<Outgoing>();
    out->head = SerializeHead(res);
    out->body = std::move(res.body());
    ExpiresAfter(server_->options.idle_timeout_ms);
    const std::array<asio::const_buffer, 2> buffers = {asio::buffer(out->head),
                                                       asio::buffer(out->body)};
    // Asio's default completion condition hands the socket at most 64 KiB
    // per write: a poll's answer of several hundred KiB took that many
    // sends, timer re-arms and reactor waits (measured: consume 1.6 M ->
    // 0.9 M events/s). Offer the kernel everything that is left instead.
    auto everything_left = [](const beast::error_code& ec, size_t) -> size_t {
      return ec ? 0 : size_t{1} << 30;
    };
    asio::async_write(socket_, buffers, everything_left,
                      [self = shared_from_this(), out, keep_alive](beast::error_code ec, size_t) {
                        if (self->counted_) --self->server_->busy;
                        self->counted_ = false;
                        self->ReleaseBody();
                        if (ec) return self->Close();
                        if (!keep_alive)
                          return self->unread_input_ ? self->Linger() : self->Close();
                        self->Read(/*first=*/false);
                      });
  }

  // A response on its way out: the status line and fields as they go on the
  // wire, then the body, sent together with one gathered write. Beast's
  // serializer walks a cat-view of header and body buffers through a variant
  // per step; for the small answers this server mostly gives, this costs
  // about a tenth of the io threads' time less (docs/benchmarks.md), and a
  // large body (a poll's answer) is not copied.
  struct Outgoing {
    std::string head;
    std::string body;
  };
  static std::string SerializeHead(const HttpResponse& res) {
    std::string reason(res.reason());
    if (reason.empty()) reason = std::string(http::obsolete_reason(res.result()));
    size_t size = 32 + reason.size();
    for (const auto& field : res) size += field.name_string().size() + field.value().size() + 4;
    std::string head;
    head.reserve(size);
    head += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head += std::to_string(res.result_int());
    head += ' ';
    head += reason;
    head += "\r\n";
    for (const auto& field : res) {
      head += field.name_string();
      head += ": ";
      head += field.value();
      head += "\r\n";
    }
    head += "\r\n";
    return head;
  }

  void Close() {
    beast::error_code ignored;
    Socket(socket_).shutdown(tcp::socket::shutdown_send, ignored);
  }

  // Closes after an answer given before the request was read whole (401,
  // 413, 503): the answer is sent, then what the client still sends is read
  // and dropped until it closes or kLingerMs pass. Closing with unread bytes
  // would reset the connection, and a client still sending its body could
  // lose the answer with it.
  void Linger() {
    Close();
    if (!lingering_) {
      lingering_ = true;
      ExpiresAfter(std::min(kLingerMs, server_->options.header_timeout_ms));
    }
    buffer_.clear();
    socket_.async_read_some(buffer_.prepare(kFirstRead),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (!ec) self->Linger();
                            });
  }

  void ReleaseBody() {
    server_->ReleaseBody(reserved_body_bytes_);
    reserved_body_bytes_ = 0;
  }

  static constexpr size_t kFirstRead = 64 * 1024;  // Beast's own read size
  static constexpr uint64_t kSmallBody = 16 * 1024;
  static constexpr uint64_t kLargeRead = 256 * 1024;
  static constexpr int kLingerMs = 2000;
  Stream socket_;
  asio::steady_timer deadline_timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool timer_armed_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Impl> server_;
  bool counted_ = false;              // this session holds one count of server_->busy
  HttpHandler handle_;                // the admitted request's handler, until its body is read
  uint64_t body_limit_ = 0;           // the admitted route's
  uint64_t reserved_body_bytes_ = 0;  // of server_->inflight_body_bytes
  bool unread_input_ = false;         // answered before the request was read whole
  bool lingering_ = false;
  const std::shared_ptr<asio::ssl::context> tls_;
};

}  // namespace

asio::io_context& HttpServer::Impl::NextContext() {
  const size_t i = next_context++ % (more_io.size() + 1);
  return i == 0 ? io : *more_io[i - 1];
}

void HttpServer::Impl::StopAll() {
  keep_running.clear();
  io.stop();
  for (auto& context : more_io) context->stop();
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(
      NextContext(), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
        if (ec == asio::error::operation_aborted || self->stopping) return;
        if (ec) return self->AcceptFailed(ec);
        self->accept_backoff_ms = 0;
        if (self->connections.load() >= static_cast<size_t>(self->options.max_connections)) {
          beast::error_code ignored;
          s.close(ignored);  // over the limit: refuse at once rather than queue
        } else if (self->tls) {
          std::make_shared<Session<TlsStream>>(TlsStream(std::move(s), *self->tls), self, self->tls)
              ->Start();
        } else {
          std::make_shared<Session<tcp::socket>>(std::move(s), self)->Start();
        }
        self->Accept();
      });
}

void HttpServer::Impl::AcceptFailed(beast::error_code ec) {
  // Out of descriptors (or kernel memory) the connection stays queued and
  // the listener is ready again at once: accepting again now would spin.
  // Wait instead, longer each time, until a connection closes.
  const bool out_of_resources = ec == asio::error::no_descriptors || ec.value() == ENFILE ||
                                ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
  accept_backoff_ms =
      out_of_resources ? std::clamp(accept_backoff_ms * 2, kMinAcceptBackoffMs, kMaxAcceptBackoffMs)
                       : 0;
  ++accept_failures;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_accept_warning >= std::chrono::seconds(10)) {
    spdlog::warn("accept failed: {} ({} failure(s) since the last warning); retrying in {} ms",
                 ec.message(), accept_failures, accept_backoff_ms);
    last_accept_warning = now;
    accept_failures = 0;
  }
  if (accept_backoff_ms == 0) return Accept();
  accept_timer.expires_after(std::chrono::milliseconds(accept_backoff_ms));
  accept_timer.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
    if (wait_ec || self->stopping) return;
    self->Accept();
  });
}

void HttpServer::Impl::BeginStop() {
  if (stopping.exchange(true)) return;
  beast::error_code ignored;
  acceptor.close(ignored);
  accept_timer.cancel();
  signals.cancel(ignored);
  reload_signals.cancel(ignored);
  if (on_stop) on_stop();
  DrainThenStop();
}

void HttpServer::Impl::WaitForReload() {
  reload_signals.async_wait([self = shared_from_this()](beast::error_code ec, int) {
    if (ec || self->stopping) return;
    auto reloaded = MakeTlsContext(self->options.tls);
    if (reloaded.ok()) {
      self->tls = std::move(*reloaded);
      spdlog::info("SIGHUP: TLS certificate reloaded from {}", self->options.tls.cert);
    } else {
      spdlog::error("SIGHUP: keeping the TLS certificate in use: {}", reloaded.status().message());
    }
    self->WaitForReload();
  });
}

void HttpServer::Impl::DrainThenStop() {
  if (busy.load() == 0 || ++drain_polls > 600) {
    StopAll();
    return;
  }
  drain_timer.emplace(io, std::chrono::milliseconds(50));
  drain_timer->async_wait(
      [self = shared_from_this()](beast::error_code) { self->DrainThenStop(); });
}

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::Bind(const HttpServerOptions& options,
                                                     HttpAdmit admit) {
  // Each io_context sets up its ring (io_uring) or epoll instance here;
  // one the kernel refuses is an error of the start, not an exception later.
  std::shared_ptr<Impl> impl;
  try {
    impl = std::make_shared<Impl>();
    for (int i = 1; i < options.io_threads; ++i) {
      impl->more_io.push_back(std::make_unique<asio::io_context>(1));
      impl->keep_running.push_back(asio::make_work_guard(*impl->more_io.back()));
    }
  } catch (const std::exception& e) {  // boost::system::system_error from Asio
    return Status::IOError(std::string("cannot set up the io threads' ") + kIoBackend + ": " +
                           e.what() + kIoBackendHint);
  }
  impl->options = options;
  impl->admit = std::move(admit);
  if (options.tls.enabled()) {
    auto tls = MakeTlsContext(options.tls);
    if (!tls.ok()) return tls.status();
    impl->tls = std::move(*tls);
    beast::error_code ignored;
    impl->reload_signals.add(SIGHUP, ignored);
  }
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

const char* HttpServer::IoBackend() { return kIoBackend; }

std::string HttpServer::host() const {
  return impl_->acceptor.local_endpoint().address().to_string();
}
unsigned short HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }
size_t HttpServer::open_connections() const { return impl_->connections.load(); }
boost::asio::any_io_executor HttpServer::executor() const { return impl_->io.get_executor(); }
boost::asio::any_io_executor HttpServer::ThisThreadExecutor(boost::asio::any_io_executor fallback) {
  if (this_thread_context == nullptr) return fallback;
  return this_thread_context->get_executor();
}

bool HttpServer::Run(std::function<void()> on_stop, std::function<void()> before_accept) {
  impl_->on_stop = std::move(on_stop);
  impl_->signals.async_wait([impl = impl_](beast::error_code ec, int) {
    if (!ec) impl->BeginStop();
  });
  if (impl_->tls) impl_->WaitForReload();
  // The contexts run until the drain stops them (StopAll).
  std::vector<std::thread> threads;
  try {
    for (auto& context : impl_->more_io) {
      threads.emplace_back([impl = impl_, context = context.get()] {
        NameThisThread("ef-io");
        RunContext(*context);
      });
    }
  } catch (const std::system_error& e) {  // a thread limit
    spdlog::critical("cannot start the io threads: {}", e.what());
    impl_->StopAll();
    for (auto& t : threads) t.join();
    return false;
  }
  if (before_accept) before_accept();
  impl_->Accept();
  RunContext(impl_->io);
  for (auto& t : threads) t.join();
  return true;
}

void HttpServer::Stop() {
  asio::post(impl_->io, [impl = impl_] { impl->BeginStop(); });
}

}  // namespace eventflow
