// task_service: the reference service of the "Create Task" lifecycle.
//   POST /workflow/tasks  (Authorization: Bearer <HS256 JWT>, X-Correlation-ID,
//                          traceparent) {"organizationId","projectId","title"}
//   GET  /metrics         outbox backlog, published, failed, publish errors
// It stores the task and its TaskCreated outbox row in one SQLite
// transaction, runs the outbox relay to EventFlow, and keeps its membership
// and plan caches from its own consumers of organization.member.added,
// organization.member.removed and billing.entitlements.updated.
//   task_service --listen 127.0.0.1:0 --db PATH --server HOST:PORT
//                --api-key KEY --jwt-secret SECRET
#include <simdjson.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <thread>

#include "client/consumer.h"
#include "client/outbox_relay.h"
#include "examples/task-lifecycle/jwt.h"
#include "examples/task-lifecycle/task_db.h"
#include "formats/json_writer.h"
#include "formats/random.h"
#include "formats/uuid.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ec = eventflow::client;
using tcp = asio::ip::tcp;

namespace {

struct Service {
  std::unique_ptr<tasks::TaskDb> db;
  std::unique_ptr<ec::OutboxRelay> relay;
  std::string jwt_secret;
};

std::string Hex(uint64_t v, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kHex[v & 15];
  return s;
}

// The trace id of a valid W3C traceparent, else a new one.
std::string TraceId(std::string_view traceparent) {
  auto hex = [](std::string_view s) {
    return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  };
  if (traceparent.size() == 55 && traceparent[2] == '-' && traceparent[35] == '-' &&
      traceparent[52] == '-' && hex(traceparent.substr(3, 32)) &&
      traceparent.substr(3, 32) != std::string(32, '0')) {
    return std::string(traceparent.substr(3, 32));
  }
  return Hex(eventflow::RandomBits(), 16) + Hex(eventflow::RandomBits(), 16);
}

std::string CorrelationId(std::string_view header) {
  bool ok = !header.empty() && header.size() <= 128;
  for (char c : header) ok = ok && c >= 0x21 && c <= 0x7e;
  return ok ? std::string(header) : eventflow::Uuid::Random().ToString();
}

std::string ErrorBody(const std::string& code, const std::string& message) {
  return "{\"error\":{\"code\":" + eventflow::json::Quote(code) +
         ",\"message\":" + eventflow::json::Quote(message) + "}}";
}

http::response<http::string_body> CreateTask(Service& svc,
                                             const http::request<http::string_body>& req) {
  http::response<http::string_body> res{http::status::created, req.version()};
  const std::string correlation = CorrelationId(req["X-Correlation-ID"]);
  const std::string trace = TraceId(req["traceparent"]);
  res.set("X-Correlation-ID", correlation);
  res.set("traceparent", "00-" + trace + "-" + Hex(eventflow::RandomBits(), 16) + "-01");
  res.set(http::field::content_type, "application/json");
  auto fail = [&](http::status status, const std::string& code, const std::string& message) {
    res.result(status);
    res.body() = ErrorBody(code, message);
    return res;
  };
  const std::string_view auth = req[http::field::authorization];
  if (auth.substr(0, 7) != "Bearer ")
    return fail(http::status::unauthorized, "unauthorized", "no bearer token");
  auto claims = tasks::VerifyHs256(auth.substr(7), svc.jwt_secret, std::time(nullptr));
  if (!claims.ok()) return fail(http::status::unauthorized, "unauthorized", claims.error().message);

  simdjson::dom::parser parser;
  simdjson::dom::object body;
  if (parser.parse(req.body()).get(body)) {
    return fail(http::status::bad_request, "invalid_request", "body is not a JSON object");
  }
  tasks::NewTask task;
  std::map<std::string, std::string*> fields = {{"organizationId", &task.organization_id},
                                                {"projectId", &task.project_id},
                                                {"title", &task.title}};
  for (auto [key, value] : body) {
    auto it = fields.find(std::string(key));
    std::string_view s;
    if (it == fields.end())
      return fail(http::status::bad_request, "invalid_request",
                  "unknown field " + std::string(key));
    if (value.get(s) || s.empty() || s.size() > 200) {
      return fail(http::status::bad_request, "invalid_request",
                  std::string(key) + " must be a string of 1-200 bytes");
    }
    *it->second = std::string(s);
  }
  for (const auto& [key, value] : fields) {
    if (value->empty())
      return fail(http::status::bad_request, "invalid_request", key + " is required");
  }
  task.user_id = claims->subject;
  task.correlation_id = correlation;
  task.trace_id = trace;
  tasks::Refusal refusal;
  auto created = svc.db->CreateTask(task, &refusal);
  if (!created.ok()) {
    switch (refusal) {
      case tasks::Refusal::kNotMember:
        return fail(http::status::forbidden, "forbidden", created.error().message);
      case tasks::Refusal::kOverLimit:
        return fail(http::status::payment_required, "plan_limit_reached", created.error().message);
      default:
        std::fprintf(stderr, "task_service: database write failed: %s\n",
                     created.error().ToString().c_str());
        return fail(http::status::internal_server_error, "internal",
                    "the task could not be stored");
    }
  }
  res.body() = created->json;
  return res;
}

std::string Metrics(Service& svc) {
  const ec::RelayStats s = svc.relay->stats();
  auto backlog = svc.db->Backlog();
  std::string out;
  out += "# TYPE task_outbox_backlog gauge\ntask_outbox_backlog " +
         std::to_string(backlog.ok() ? *backlog : -1) + "\n";
  out += "# TYPE task_outbox_published_total counter\ntask_outbox_published_total " +
         std::to_string(s.published) + "\n";
  out += "# TYPE task_outbox_failed_total counter\ntask_outbox_failed_total " +
         std::to_string(s.failed) + "\n";
  out += "# TYPE task_outbox_publish_errors_total counter\ntask_outbox_publish_errors_total " +
         std::to_string(s.publish_errors) + "\n";
  return out;
}

void Session(Service& svc, tcp::socket socket) {
  beast::flat_buffer buffer;
  beast::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    http::read(socket, buffer, parser, ec);
    if (ec) return;
    const auto& req = parser.get();
    http::response<http::string_body> res{http::status::not_found, req.version()};
    if (req.target() == "/workflow/tasks" && req.method() == http::verb::post) {
      res = CreateTask(svc, req);
    } else if (req.target() == "/metrics" && req.method() == http::verb::get) {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4");
      res.body() = Metrics(svc);
    } else {
      res.set(http::field::content_type, "application/json");
      res.body() = ErrorBody("not_found", "no such route");
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    http::write(socket, res, ec);
    if (ec || !req.keep_alive()) return;
  }
}

// Keeps one cache consumer running; streams that do not exist yet are
// waited for.
void CacheConsumer(const ec::ClientOptions& client, const std::string& stream,
                   ec::Consumer::Handler handler) {
  ec::ConsumerOptions co;
  co.stream = stream;
  co.group = "task-service";
  auto consumer = ec::Consumer::Open(client, co, std::move(handler));
  if (!consumer.ok()) return;
  for (;;) {
    const ec::Status s = (*consumer)->Run();
    std::fprintf(stderr, "task_service: %s consumer: %s\n", stream.c_str(), s.ToString().c_str());
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

std::string Str(const std::string& json, const char* pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  std::string_view s;
  if (parser.parse(json).get(e) || e.at_pointer(pointer).get(s)) return {};
  return std::string(s);
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--listen", "127.0.0.1:8090"},
                                              {"--server", "127.0.0.1:8080"}};
  for (int i = 1; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  ec::ClientOptions client;
  client.api_key = flags["--api-key"];
  const std::string& l = flags["--listen"];
  if (flags["--db"].empty() || flags["--jwt-secret"].empty() ||
      !client.SetAddress(flags["--server"]) || l.rfind(':') == std::string::npos) {
    std::fprintf(stderr,
                 "usage: task_service --listen HOST:PORT --db PATH --server HOST:PORT --api-key KEY"
                 " --jwt-secret SECRET\n");
    return 2;
  }
  Service svc;
  svc.jwt_secret = flags["--jwt-secret"];
  auto db = tasks::TaskDb::Open(flags["--db"]);
  ec::RelayOptions ro;
  ro.db_path = flags["--db"];
  auto relay = ec::OutboxRelay::Open(client, ro);
  if (!db.ok() || !relay.ok()) {
    std::fprintf(stderr, "task_service: %s\n",
                 (!db.ok() ? db.error() : relay.error()).ToString().c_str());
    return 1;
  }
  svc.db = std::move(*db);
  svc.relay = std::move(*relay);
  std::thread([&svc] { svc.relay->Run(); }).detach();
  std::thread([&] {
    CacheConsumer(client, "organization.member.added", [&svc](const ec::ReceivedEvent& e) {
      return svc.db->SetMember(Str(e.payload_json, "/organizationId"),
                               Str(e.payload_json, "/userId"), true);
    });
  }).detach();
  std::thread([&] {
    CacheConsumer(client, "organization.member.removed", [&svc](const ec::ReceivedEvent& e) {
      return svc.db->SetMember(Str(e.payload_json, "/organizationId"),
                               Str(e.payload_json, "/userId"), false);
    });
  }).detach();
  std::thread([&] {
    CacheConsumer(client, "billing.entitlements.updated", [&svc](const ec::ReceivedEvent& e) {
      simdjson::dom::parser parser;
      simdjson::dom::element p;
      int64_t max_tasks = 0;
      if (parser.parse(e.payload_json).get(p) || p["maxTasks"].get(max_tasks))
        return ec::Status::Ok();
      return svc.db->SetTaskLimit(Str(e.payload_json, "/organizationId"), max_tasks);
    });
  }).detach();

  asio::io_context io;
  beast::error_code ec_;
  tcp::acceptor acceptor(io);
  const tcp::endpoint ep(asio::ip::make_address(l.substr(0, l.rfind(':')), ec_),
                         static_cast<unsigned short>(std::atoi(l.c_str() + l.rfind(':') + 1)));
  if (!ec_) acceptor.open(ep.protocol(), ec_);
  if (!ec_) acceptor.set_option(asio::socket_base::reuse_address(true), ec_);
  if (!ec_) acceptor.bind(ep, ec_);
  if (!ec_) acceptor.listen(asio::socket_base::max_listen_connections, ec_);
  if (ec_) {
    std::fprintf(stderr, "task_service: cannot listen on %s: %s\n", l.c_str(),
                 ec_.message().c_str());
    return 1;
  }
  std::printf("listening on %s:%u\n", ep.address().to_string().c_str(),
              acceptor.local_endpoint().port());
  std::fflush(stdout);
  for (;;) {
    tcp::socket socket(io);
    acceptor.accept(socket, ec_);
    if (ec_) continue;
    std::thread(Session, std::ref(svc), std::move(socket)).detach();
  }
}
