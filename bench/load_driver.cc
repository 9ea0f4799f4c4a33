// load_driver: the two load workloads wrk cannot express, for bench/load.sh.
//
//   load_driver consume HOST:PORT KEY STREAM GROUPS LIMIT EVENTS
//     GROUPS consumer groups, one thread and keep-alive connection each,
//     poll LIMIT events at a time and commit the last one, the way consumers
//     really work, until each group has seen EVENTS events. Each group checks
//     that offsets arrive strictly increasing (every event once). Prints JSON:
//     distinct events delivered per second over all groups.
//
//   load_driver pipeline HOST:PORT KEY STREAM EVENTS EXPECTED
//     Events through a stream: 4 producer threads post EVENTS events in
//     batches of 1000 (payload {"n","amount":n%10,"card","note"}) while one
//     consumer group long-polls 1000 at a time and commits, until it has
//     EXPECTED events (fewer than EVENTS when the stream's rules filter
//     some). Prints JSON: EVENTS per second from the first post to the last
//     event consumed, so processing (rules) is inside the measured path.
//
//   load_driver idle HOST:PORT CONNS HOLD_S
//     Opens CONNS keep-alive connections, sends one GET /healthz on each,
//     prints "ready" once all answered, holds them HOLD_S seconds (the
//     caller samples the server's RSS meanwhile), then checks that every
//     connection still answers. Prints JSON.
#include <sys/resource.h>

#include <simdjson.h>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Endpoint {
  std::string host;
  std::string port;
};

Endpoint ParseEndpoint(const std::string& addr) {
  const size_t colon = addr.rfind(':');
  return {addr.substr(0, colon), addr.substr(colon + 1)};
}

class Connection {
 public:
  Connection(asio::io_context& io, const Endpoint& ep) : socket_(io) {
    tcp::resolver resolver(io);
    asio::connect(socket_, resolver.resolve(ep.host, ep.port));
    buffer_.reserve(256 * 1024);  // Beast reads up to the buffer's free room
  }
  http::response<http::string_body> Send(http::verb verb, const std::string& target,
                                         const std::string& key, std::string body = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!key.empty()) req.set("X-API-Key", key);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::move(body);
    }
    req.prepare_payload();
    http::write(socket_, req);
    http::response_parser<http::string_body> parser;
    parser.body_limit(1u << 30);
    http::read(socket_, buffer_, parser);
    return parser.release();
  }

 private:
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int Consume(const Endpoint& ep, const std::string& key, const std::string& stream, int groups,
            int limit, uint64_t events) {
  std::atomic<uint64_t> delivered{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int g = 0; g < groups; ++g) {
    threads.emplace_back([&, g] {
      try {
        asio::io_context io;
        Connection conn(io, ep);
        // On-demand: each event's offset is read, its payload skipped.
        simdjson::ondemand::parser parser;
        const std::string base =
            "/api/v1/streams/" + stream + "/consumer-groups/bench-" + std::to_string(g);
        uint64_t seen = 0;
        int64_t last_offset = -1;
        while (seen < events) {
          auto res =
              conn.Send(http::verb::get,
                        base + "/events?limit=" + std::to_string(limit) + "&timeout=1000", key);
          if (res.result_int() != 200) throw std::runtime_error("poll: " + res.body());
          simdjson::padded_string body(res.body());
          simdjson::ondemand::document doc = parser.iterate(body);
          uint64_t in_poll = 0;
          for (auto e : doc["events"].get_array()) {
            const int64_t offset = static_cast<int64_t>(uint64_t(e["offset"]));
            if (offset <= last_offset) throw std::runtime_error("offset went backwards");
            last_offset = offset;
            ++in_poll;
          }
          if (in_poll == 0) throw std::runtime_error("stream ran dry before EVENTS");
          seen += in_poll;
          const std::string_view next_view = doc["next_offset"];
          const std::string next(next_view);
          auto c = conn.Send(http::verb::post, base + "/offsets", key,
                             "{\"last_event_id\":\"" + next + "\"}");
          if (c.result_int() != 200) throw std::runtime_error("commit: " + c.body());
        }
        delivered += seen;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "group %d: %s\n", g, e.what());
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs = SecondsSince(t0);
  std::printf(
      "{\"groups\": %d, \"poll_limit\": %d, \"events_delivered\": %llu, \"seconds\": %.3f, "
      "\"events_per_s\": %.0f, \"failed_groups\": %d}\n",
      groups, limit, static_cast<unsigned long long>(delivered.load()), secs,
      static_cast<double>(delivered.load()) / secs, failures.load());
  return failures.load() == 0 ? 0 : 1;
}

int Pipeline(const Endpoint& ep, const std::string& key, const std::string& stream, uint64_t events,
             uint64_t expected) {
  constexpr int kProducers = 4;
  constexpr uint64_t kBatch = 1000;
  std::atomic<int> failures{0};
  std::atomic<uint64_t> delivered{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      try {
        asio::io_context io;
        Connection conn(io, ep);
        for (uint64_t at = p * kBatch; at < events; at += kProducers * kBatch) {
          std::string body = "{\"events\":[";
          for (uint64_t n = at; n < std::min(events, at + kBatch); ++n) {
            if (n > at) body += ",";
            body += "{\"event_type\":\"OrderPlaced\",\"key\":\"org-" + std::to_string(n % 64) +
                    "\",\"payload\":{\"n\":" + std::to_string(n) +
                    ",\"amount\":" + std::to_string(n % 10) +
                    ",\"card\":\"4111111111111111\",\"note\":\"an order of the benchmark\"}}";
          }
          auto res = conn.Send(http::verb::post, "/api/v1/streams/" + stream + "/events/batch", key,
                               body + "]}");
          if (res.result_int() != 202) throw std::runtime_error("produce: " + res.body());
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "producer %d: %s\n", p, e.what());
        ++failures;
      }
    });
  }
  threads.emplace_back([&] {
    try {
      asio::io_context io;
      Connection conn(io, ep);
      simdjson::ondemand::parser parser;
      const std::string base = "/api/v1/streams/" + stream + "/consumer-groups/pipeline";
      uint64_t seen = 0;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(5);
      while (seen < expected && std::chrono::steady_clock::now() < give_up) {
        auto res = conn.Send(http::verb::get, base + "/events?limit=1000&timeout=1000", key);
        if (res.result_int() != 200) throw std::runtime_error("poll: " + res.body());
        simdjson::padded_string body(res.body());
        simdjson::ondemand::document doc = parser.iterate(body);
        uint64_t in_poll = 0;
        for (auto e : doc["events"].get_array()) {
          (void)e;
          ++in_poll;
        }
        if (in_poll == 0) continue;
        seen += in_poll;
        const std::string_view next_view = doc["next_offset"];
        const std::string next(next_view);
        auto c = conn.Send(http::verb::post, base + "/offsets", key,
                           "{\"last_event_id\":\"" + next + "\"}");
        if (c.result_int() != 200) throw std::runtime_error("commit: " + c.body());
      }
      delivered = seen;
      if (seen < expected) throw std::runtime_error("gave up waiting for the events");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "consumer: %s\n", e.what());
      ++failures;
    }
  });
  for (auto& t : threads) t.join();
  const double secs = SecondsSince(t0);
  std::printf(
      "{\"events\": %llu, \"delivered\": %llu, \"seconds\": %.3f, \"events_per_s\": %.0f, "
      "\"failures\": %d}\n",
      static_cast<unsigned long long>(events), static_cast<unsigned long long>(delivered.load()),
      secs, static_cast<double>(events) / secs, failures.load());
  return failures.load() == 0 ? 0 : 1;
}

int Idle(const Endpoint& ep, int conns, int hold_s) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, static_cast<rlim_t>(conns) + 256);
  setrlimit(RLIMIT_NOFILE, &lim);
  asio::io_context io;
  std::vector<std::unique_ptr<Connection>> open;
  open.reserve(conns);
  int answered = 0;
  for (int i = 0; i < conns; ++i) {
    open.push_back(std::make_unique<Connection>(io, ep));
    if (open.back()->Send(http::verb::get, "/healthz", "").result_int() == 200) ++answered;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(hold_s));
  int still_open = 0;
  for (auto& c : open) {
    try {
      if (c->Send(http::verb::get, "/healthz", "").result_int() == 200) ++still_open;
    } catch (const std::exception&) {
    }
  }
  std::printf("{\"connections\": %d, \"answered\": %d, \"still_open_after_hold\": %d}\n", conns,
              answered, still_open);
  return still_open == conns ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() == 7 && args[0] == "consume") {
      return Consume(ParseEndpoint(args[1]), args[2], args[3], std::stoi(args[4]),
                     std::stoi(args[5]), std::stoull(args[6]));
    }
    if (args.size() == 6 && args[0] == "pipeline") {
      return Pipeline(ParseEndpoint(args[1]), args[2], args[3], std::stoull(args[4]),
                      std::stoull(args[5]));
    }
    if (args.size() == 4 && args[0] == "idle") {
      return Idle(ParseEndpoint(args[1]), std::stoi(args[2]), std::stoi(args[3]));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "load_driver: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: load_driver consume HOST:PORT KEY STREAM GROUPS LIMIT EVENTS\n"
               "       load_driver pipeline HOST:PORT KEY STREAM EVENTS EXPECTED\n"
               "       load_driver idle HOST:PORT CONNS HOLD_S\n");
  return 2;
}
