// Test helpers for the client library: TestServer runs the real `eventflow
// serve` binary (EVENTFLOW_BIN, else the one built here) on a loopback port
// that survives a kill and restart, and makes plain HTTP calls for setup and
// checks; FakeServer answers with scripted raw replies (for 503, timeouts).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/http_client.h"

namespace eventflow::client::testing {

inline std::string EventflowBinary() {
  if (const char* env = std::getenv("EVENTFLOW_BIN")) return env;
  return EVENTFLOW_BIN_DEFAULT;  // set by tests/CMakeLists.txt
}

// A fresh directory for one test's data, removed when the test process exits
// (a server's data dir holds a preallocated segment and an index: left
// behind, every run would leave ~80 MB per test in the temp dir).
inline std::string TempDir(const std::string& name) {
  static struct RemovedAtExit {
    std::vector<std::filesystem::path> dirs;
    ~RemovedAtExit() {
      std::error_code ignored;
      for (const auto& dir : dirs) std::filesystem::remove_all(dir, ignored);
    }
  } made;
  auto dir = std::filesystem::temp_directory_path() /
             ("ef-client-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  made.dirs.push_back(dir);
  return dir.string();
}

struct Reply {
  int status = 0;
  std::string head;
  std::string body;
};

// Sends one request on a fresh connection (Connection: close) to 127.0.0.1.
inline Reply RawRequest(int port, const std::string& method, const std::string& target,
                        const std::string& body, const std::string& api_key) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!api_key.empty()) req += "X-API-Key: " + api_key + "\r\n";
  if (!body.empty()) {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string raw;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    char buf[65536];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) raw.append(buf, size_t(n));
  }
  ::close(fd);
  Reply r;
  const auto end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  r.head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  std::sscanf(raw.c_str(), "HTTP/1.1 %d", &r.status);
  return r;
}

// The value at a JSON Pointer: strings unquoted, the rest as minified JSON.
inline std::string Field(const std::string& json, const char* pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element e, v;
  if (parser.parse(json).get(e)) return "<invalid json>";
  if (e.at_pointer(pointer).get(v)) return "<missing>";
  std::string_view s;
  if (!v.get(s)) return std::string(s);
  return simdjson::minify(v);
}

class TestServer {
 public:
  static constexpr const char* kAdminKey = "client-test-admin-secret";

  explicit TestServer(std::string data_dir, std::vector<std::string> extra = {})
      : data_dir_(std::move(data_dir)), extra_(std::move(extra)) {
    Start();
  }
  ~TestServer() { Kill(); }

  // Starts the server (again) on the port it had, or a free one the first time.
  bool Start() {
    int out[2];
    if (::pipe(out) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      const std::string listen = "127.0.0.1:" + std::to_string(port_);
      std::vector<std::string> args = {EventflowBinary(), "serve",   "--listen",        listen,
                                       "--data-dir",      data_dir_, "--bootstrap-key", kAdminKey,
                                       "--log-level",     "warn"};
      args.insert(args.end(), extra_.begin(), extra_.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    FILE* f = ::fdopen(out[0], "r");
    char line[256] = {};
    unsigned port = 0;
    const bool ok = std::fgets(line, sizeof line, f) != nullptr &&
                    std::sscanf(line, "listening on 127.0.0.1:%u", &port) == 1;
    std::fclose(f);
    if (ok) port_ = static_cast<int>(port);
    return ok;
  }
  void Kill() { Signal(SIGKILL); }
  void Terminate() { Signal(SIGTERM); }
  bool running() const { return pid_ > 0; }
  int port() const { return port_; }

  Reply Request(const std::string& method, const std::string& target, const std::string& body = "",
                const std::string& key = kAdminKey) const {
    return RawRequest(port_, method, target, body, key);
  }

  // Creates an API key of org "acme" and returns its secret ("" on failure).
  std::string CreateKey(const std::string& extra_json = "") const {
    const Reply r = Request("POST", "/api/v1/admin/api-keys",
                            R"({"org_id":"acme","name":"client-test")" + extra_json + "}");
    return r.status == 201 ? Field(r.body, "/api_key") : "";
  }
  int CreateStream(const std::string& key, const std::string& body) const {
    return Request("POST", "/api/v1/streams", body, key).status;
  }
  // The event ids of the stream's events in offset order (up to 10,000 per
  // call, following next_from_offset).
  std::vector<std::string> StreamEventIds(const std::string& key, const std::string& stream) const {
    std::vector<std::string> ids;
    for (int64_t from = 0;;) {
      const Reply r = Request(
          "GET",
          "/api/v1/streams/" + stream + "/events?limit=10000&from_offset=" + std::to_string(from),
          "", key);
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      simdjson::dom::array events;
      if (r.status != 200 || parser.parse(r.body).get(root) || root["events"].get(events)) break;
      size_t n = 0;
      for (simdjson::dom::element e : events) {
        std::string_view id;
        if (!e["event_id"].get(id)) ids.emplace_back(id);
        ++n;
      }
      int64_t next = 0;
      if (n == 0 || root["next_from_offset"].get(next) || next <= from) break;
      from = next;
    }
    return ids;
  }
  ClientOptions Options(const std::string& key) const {
    ClientOptions o;
    o.port = static_cast<uint16_t>(port_);
    o.api_key = key;
    return o;
  }

 private:
  void Signal(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string data_dir_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Answers each connection's requests with the next scripted reply; an empty
// reply means "read the request and never answer" (the client times out).
class FakeServer {
 public:
  explicit FakeServer(std::vector<std::string> replies) : replies_(std::move(replies)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }
  int requests() const { return requests_; }

  static std::string Json(int status, const std::string& body, const std::string& extra = "") {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
           extra + "Connection: close\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  }

 private:
  void Serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) break;
      std::string req;
      char buf[4096];
      // Reads the head and the body named by Content-Length.
      while (true) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, size_t(n));
        const auto end = req.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        size_t len = 0;
        const auto cl = req.find("Content-Length: ");
        if (cl != std::string::npos) len = std::stoul(req.substr(cl + 16));
        if (req.size() >= end + 4 + len) break;
      }
      const size_t i = static_cast<size_t>(requests_++);
      const std::string reply = i < replies_.size() ? replies_[i] : replies_.back();
      if (reply.empty()) {
        hung_.push_back(c);  // closed at the end
        continue;
      }
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }
    for (int c : hung_) ::close(c);
  }

  std::vector<std::string> replies_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::vector<int> hung_;
  std::thread thread_;
};

}  // namespace eventflow::client::testing
