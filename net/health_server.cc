#include "net/health_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>
#include <vector>

namespace eventflow {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServerOptions& options)
      : stream_(std::move(socket)), options_(options) {}
  void Start() { Read(); }

 private:
  void Read() {
    request_ = {};
    stream_.expires_after(std::chrono::milliseconds(options_.header_timeout_ms));
    http::async_read(
        stream_, buffer_, request_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }
  void OnRead(beast::error_code ec) {
    if (ec) {
      if (ec != http::error::end_of_stream) {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      }
      return;
    }
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(request_.version());
    res->keep_alive(request_.keep_alive());
    res->set(http::field::content_type, "application/json");
    const auto target = request_.target();
    if (request_.method() == http::verb::get && target == "/healthz") {
      res->result(http::status::ok);
      res->body() = R"({"status":"ok"})";
    } else if (request_.method() == http::verb::get && target == "/readyz") {
      const bool ready = options_.ready();
      res->result(ready ? http::status::ok : http::status::service_unavailable);
      res->body() = ready ? R"({"status":"ready"})" : R"({"status":"not_ready"})";
    } else {
      res->result(http::status::not_found);
      res->body() = R"({"error":{"code":"not_found","message":"no such route","details":null}})";
    }
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (!ec && res->keep_alive()) self->Read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  const HttpServerOptions& options_;
};

}  // namespace

struct HealthServer::Impl {
  HttpServerOptions options;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io, SIGINT, SIGTERM};

  void Accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket s) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) std::make_shared<Session>(std::move(s), options)->Start();
      Accept();
    });
  }
};

HealthServer::HealthServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HealthServer::~HealthServer() { Stop(); }

Result<std::unique_ptr<HealthServer>> HealthServer::Bind(const HttpServerOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("bad listen address '" + options.host + "'");
  const tcp::endpoint endpoint(address, options.port);
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::IOError("listen on " + options.host + ":" + std::to_string(options.port) + ": " +
                           ec.message());
  return std::unique_ptr<HealthServer>(new HealthServer(std::move(impl)));
}

std::string HealthServer::host() const {
  return impl_->acceptor.local_endpoint().address().to_string();
}
unsigned short HealthServer::port() const { return impl_->acceptor.local_endpoint().port(); }

void HealthServer::Run() {
  impl_->signals.async_wait([this](beast::error_code, int) { Stop(); });
  impl_->Accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->options.io_threads; ++i)
    threads.emplace_back([this] { impl_->io.run(); });
  impl_->io.run();
  for (auto& t : threads) t.join();
}

void HealthServer::Stop() {
  if (impl_) asio::post(impl_->io, [this] { impl_->io.stop(); });
}

}  // namespace eventflow
