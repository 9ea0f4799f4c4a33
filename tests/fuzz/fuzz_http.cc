// libFuzzer target: the HTTP request path, bytes to a response. The real
// listener (Beast's parser, header admission, body limits), the router and
// the handlers run in this process over a real engine in a data dir on
// tmpfs, as `eventflow serve` runs them; each input is sent on a new
// loopback connection, whose write side is then closed, and the answer read
// until the server closes or 500 ms pass. The seeds carry the key
// "fuzz-admin-key"; two streams exist from the start: "plain", and
// "checked" with a schema and processing rules.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "net/api.h"
#include "net/http_server.h"
#include "net/key_store.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace eventflow;

constexpr char kKey[] = "fuzz-admin-key";

// One connection: sends `bytes`, closes the write side, reads the answer.
std::string Exchange(int port, std::string_view bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval wait{0, 500'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    char buf[16384];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
      reply.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

std::string Post(const std::string& target, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: f\r\nX-API-Key: " + kKey +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// The server, made once and never destroyed: its threads run until the
// process exits (destroying it would join them), and its data dir goes then.
struct FuzzServer {
  std::string dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<KeyStore> keys;
  std::unique_ptr<Api> api;
  std::unique_ptr<HttpServer> http;
  int port = 0;
};
FuzzServer* server = nullptr;

void RemoveDataDir() {
  std::error_code ignored;
  if (server != nullptr) std::filesystem::remove_all(server->dir, ignored);
}

FuzzServer* StartServer() {
  auto* s = new FuzzServer;
  const char* shm = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string tmpl = std::string(shm) + "/eventflow-fuzz-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) fuzz::Fail("mkdtemp", tmpl);
  s->dir = tmpl;
  EngineOptions eo;
  eo.data_dir = s->dir;
  eo.segment_bytes = 1u << 20;
  eo.max_index_headroom = 1u << 20;
  auto engine = Engine::Open(eo);
  if (!engine.ok()) fuzz::Fail("engine", engine.status().ToString());
  s->engine = std::move(*engine);
  auto keys = KeyStore::Open(&s->engine->index(), 0);
  if (!keys.ok()) fuzz::Fail("keys", keys.status().ToString());
  s->keys = std::move(*keys);
  if (!s->keys->Bootstrap(kKey).ok()) fuzz::Fail("bootstrap", kKey);
  HttpServerOptions ho;
  ho.port = 0;
  ho.io_threads = 1;
  ho.header_timeout_ms = 1000;
  ho.idle_timeout_ms = 1000;
  ho.max_connections = 256;
  ho.max_inflight_body_bytes = 8u << 20;
  auto http = HttpServer::Bind(ho, [s](const HttpRequestHeader& h) { return s->api->Admit(h); });
  if (!http.ok()) fuzz::Fail("listen", http.status().ToString());
  s->http = std::move(*http);
  ApiOptions ao;
  ao.max_event_bytes = 64 * 1024;
  ao.max_batch_bytes = 1u << 20;
  ao.max_batch_events = 256;
  ao.max_parked_polls = 4;  // past it polls answer at once, not in 500 ms
  ao.max_groups_per_stream = 64;
  ao.min_free_bytes = 0;
  s->api = std::make_unique<Api>(s->engine.get(), s->keys.get(), ao, s->http->executor());
  s->port = s->http->port();
  std::thread([s] { s->http->Run(); }).detach();
  server = s;
  std::atexit(RemoveDataDir);
  Exchange(s->port, Post("/api/v1/streams", R"({"name":"plain"})"));
  Exchange(s->port,
           Post("/api/v1/streams",
                R"({"name":"checked","schema":{"type":"object","required":["n"],"properties":)"
                R"({"n":{"type":"integer","minimum":0},"s":{"type":"string","pattern":"^a+$"}}},)"
                R"("processing":{"rules":[{"type":"filter","where":{"field":"/payload/n","op":)"
                R"("gte","value":1}},{"type":"transform","set":{"/payload/seen":true}}]}})"));
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::err);  // a line per request would swamp the fuzzer's output
  StartServer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const std::string reply = Exchange(server->port, bytes);
  // Whatever came in, an answer that came out is HTTP: a status line first.
  if (!reply.empty() && reply.rfind("HTTP/1.", 0) != 0) {
    fuzz::Fail("an answer that is not HTTP", reply.substr(0, 200));
  }
  return 0;
}
