#include "client/http_client.h"

#include <simdjson.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <deque>
#include <future>
#include <mutex>
#include <vector>

namespace eventflow::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

bool ClientOptions::SetAddress(const std::string& host_port) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  unsigned value = 0;
  const char* first = host_port.data() + colon + 1;
  const char* last = host_port.data() + host_port.size();
  auto [p, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || p != last || value == 0 || value > 65535) return false;
  host = host_port.substr(0, colon);
  port = static_cast<uint16_t>(value);
  return true;
}

class HttpClient::Impl {
 public:
  Impl(const ClientOptions& options, tcp::endpoint endpoint)
      : options_(options), endpoint_(endpoint), work_(asio::make_work_guard(io_)) {
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Impl() {
    stopping_ = true;
    work_.reset();
    thread_.join();
  }

  void Send(HttpRequest req, Callback done) {
    asio::co_spawn(io_, Run(std::move(req), std::move(done)), asio::detached);
  }

  HttpStats stats() const {
    std::lock_guard lock(stats_mu_);
    return stats_;
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : stream(io) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
  };

  asio::awaitable<void> Run(HttpRequest req, Callback done) {
    Result<HttpResponse> r = co_await Attempts(req);
    done(std::move(r));
  }

  // One pooled connection, or a new one; waits while max_connections are
  // busy. Returns null with `ec` set when connecting failed.
  asio::awaitable<std::unique_ptr<Conn>> Acquire(beast::error_code& ec) {
    while (idle_.empty() && open_ >= options_.max_connections) {
      auto timer = std::make_shared<asio::steady_timer>(io_, asio::steady_timer::time_point::max());
      waiters_.push_back(timer);
      beast::error_code ignored;
      co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      co_return conn;
    }
    ++open_;
    AddStat(&HttpStats::connections_opened);
    auto conn = std::make_unique<Conn>(io_);
    conn->stream.expires_after(options_.connect_timeout);
    co_await conn->stream.async_connect(endpoint_, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      Release(nullptr);
      co_return nullptr;
    }
    conn->stream.socket().set_option(tcp::no_delay(true), ec);
    ec = {};
    co_return conn;
  }

  // Returns `conn` to the pool (null: it was closed) and wakes one waiter.
  void Release(std::unique_ptr<Conn> conn) {
    if (conn) {
      idle_.push_back(std::move(conn));
    } else {
      --open_;
    }
    if (!waiters_.empty()) {
      waiters_.front()->cancel();
      waiters_.pop_front();
    }
  }

  asio::awaitable<Result<HttpResponse>> Attempts(const HttpRequest& req) {
    AddStat(&HttpStats::requests);
    http::request<http::string_body> msg;
    msg.method(http::string_to_verb(req.method));
    msg.target(req.target);
    msg.version(11);
    msg.set(http::field::host, options_.host);
    msg.set("X-API-Key", options_.api_key);
    if (!req.correlation_id.empty()) msg.set("X-Correlation-ID", req.correlation_id);
    if (!req.traceparent.empty()) msg.set("traceparent", req.traceparent);
    msg.keep_alive(true);
    if (!req.body.empty()) {
      msg.set(http::field::content_type, "application/json");
      msg.body() = req.body;
    }
    msg.prepare_payload();

    const int max_attempts = req.retry ? std::max(1, options_.max_attempts) : 1;
    Error last;
    for (int attempt = 1;; ++attempt) {
      AddStat(&HttpStats::attempts);
      beast::error_code ec;
      std::unique_ptr<Conn> conn = co_await Acquire(ec);
      http::response_parser<http::string_body> parser;
      parser.body_limit(1ull << 30);
      if (conn) {
        conn->stream.expires_after(options_.request_timeout + req.extra_timeout);
        co_await http::async_write(conn->stream, msg,
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
          co_await http::async_read(conn->stream, conn->buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, ec));
        }
      }
      std::chrono::milliseconds wait{0};
      if (ec) {
        if (conn) {
          beast::error_code ignored;
          conn->stream.socket().close(ignored);
          conn.reset();
          Release(nullptr);
        }
        const bool timeout = ec == beast::error::timeout;
        last = MakeError(0, timeout ? "timeout" : "connection_failed",
                         ec.message() + " (attempt " + std::to_string(attempt) + ")");
        AddStat(&HttpStats::retries_transport);
      } else {
        auto res = parser.release();
        const int status = res.result_int();
        const bool keep = res.keep_alive();
        if (keep) {
          conn->stream.expires_never();
          Release(std::move(conn));
        } else {
          beast::error_code ignored;
          conn->stream.socket().close(ignored);
          conn.reset();
          Release(nullptr);
        }
        const bool retry_status = status == 429 || status == 502 || status == 503 || status == 504;
        if (!retry_status || attempt >= max_attempts || stopping_) {
          co_return HttpResponse{status, std::move(res.body()), attempt};
        }
        if (status == 429) {
          AddStat(&HttpStats::retries_429);
          wait = RetryAfter(res);
          if (wait > options_.max_retry_after) {
            co_return HttpResponse{status, std::move(res.body()), attempt};
          }
        } else {
          AddStat(&HttpStats::retries_5xx);
        }
      }
      if (attempt >= max_attempts || stopping_) co_return last;
      wait = std::max(wait, options_.backoff.Delay(attempt));
      asio::steady_timer timer(io_, wait);
      beast::error_code ignored;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

  // The Retry-After header in seconds (delta form), with up to 10% jitter so
  // clients told the same time do not return together; 0 when absent.
  static std::chrono::milliseconds RetryAfter(const http::response<http::string_body>& res) {
    const auto it = res.find(http::field::retry_after);
    if (it == res.end()) return std::chrono::milliseconds(0);
    const std::string_view v = it->value();
    unsigned seconds = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc()) return std::chrono::milliseconds(0);
    const auto base = std::chrono::milliseconds(seconds * 1000ull);
    return base + std::chrono::milliseconds(RandomBits() % (base.count() / 10 + 1));
  }

  void AddStat(uint64_t HttpStats::*field) {
    std::lock_guard lock(stats_mu_);
    ++(stats_.*field);
  }

  const ClientOptions options_;
  const tcp::endpoint endpoint_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  // Pool state: touched on the io thread only.
  std::vector<std::unique_ptr<Conn>> idle_;
  size_t open_ = 0;
  std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
  mutable std::mutex stats_mu_;
  HttpStats stats_;
};

HttpClient::HttpClient(const ClientOptions& options) : options_(options) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Open(const ClientOptions& options) {
  asio::io_context io;
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
  if (ec || results.empty()) {
    return MakeError(0, "invalid_argument", "cannot resolve " + options.host + ": " + ec.message());
  }
  std::unique_ptr<HttpClient> client(new HttpClient(options));
  client->impl_ = std::make_unique<Impl>(options, results.begin()->endpoint());
  return client;
}

void HttpClient::Send(HttpRequest req, Callback done) {
  impl_->Send(std::move(req), std::move(done));
}

Result<HttpResponse> HttpClient::SendSync(HttpRequest req) {
  std::promise<Result<HttpResponse>> promise;
  auto future = promise.get_future();
  impl_->Send(std::move(req),
              [&promise](Result<HttpResponse> r) { promise.set_value(std::move(r)); });
  return future.get();
}

HttpStats HttpClient::stats() const { return impl_->stats(); }

Error ErrorFromResponse(const HttpResponse& response) {
  Error e;
  e.http_status = response.status;
  e.code = "http_" + std::to_string(response.status);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(response.body).get(root)) {
    e.message = response.body.substr(0, 200);
    return e;
  }
  std::string_view s;
  if (!root.at_pointer("/error/code").get(s)) e.code = std::string(s);
  if (!root.at_pointer("/error/message").get(s)) e.message = std::string(s);
  simdjson::dom::element details;
  if (!root.at_pointer("/error/details").get(details) && !details.is_null()) {
    e.details = simdjson::minify(details);
  }
  return e;
}

}  // namespace eventflow::client
