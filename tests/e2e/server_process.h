// Starts the real `eventflow serve` binary on a free loopback port with a
// temporary data dir, and talks plain HTTP/1.1 to it over a socket.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <cstdio>
#include <string>
#include <vector>

namespace eventflow::testing {

// A TCP connection to 127.0.0.1:`port`, or -1.
inline int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Writes all of `bytes` to `fd`; false if the peer stopped taking them.
inline bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

inline std::string EventflowBinary() {
  if (const char* env = std::getenv("EVENTFLOW_BIN")) return env;
  return EVENTFLOW_BIN_DEFAULT;  // set by tests/CMakeLists.txt
}

// The value at a JSON Pointer in `json`: strings unquoted, anything else as
// minified JSON; "<missing>" / "<invalid json>" otherwise.
inline std::string Field(const std::string& json, const char* pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (parser.parse(json).get(e)) return "<invalid json>";
  simdjson::dom::element v;
  if (e.at_pointer(pointer).get(v)) return "<missing>";
  std::string_view s;
  if (!v.get(s)) return std::string(s);
  return simdjson::minify(v);
}

struct HttpReply {
  int status = 0;
  std::string head;
  std::string body;
};

class ServerProcess {
 public:
  // Starts `eventflow serve --listen 127.0.0.1:0 --data-dir DIR extra...` and
  // waits for its "listening on" line. ok() is false if it did not come up.
  // With `stderr_path`, the server's stderr (its log) goes to that file.
  // `before_exec` runs in the child just before the server is executed.
  ServerProcess(const std::string& data_dir, std::vector<std::string> extra = {},
                const std::string& stderr_path = "", void (*before_exec)() = nullptr) {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      if (!stderr_path.empty()) {
        const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err >= 0) ::dup2(err, 2);
      }
      std::vector<std::string> args = {EventflowBinary(), "serve",      "--listen",
                                       "127.0.0.1:0",     "--data-dir", data_dir};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      if (before_exec != nullptr) before_exec();
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_ = fdopen(out[0], "r");
    char line[256];
    if (std::fgets(line, sizeof line, stdout_) == nullptr) return;
    first_line_ = line;
    unsigned port = 0;
    if (std::sscanf(line, "listening on 127.0.0.1:%u", &port) == 1) port_ = port;
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_) std::fclose(stdout_);
  }
  bool ok() const { return port_ != 0; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& first_line() const { return first_line_; }
  // The server's next line on stdout after the first (empty at its end).
  std::string NextLine() {
    char line[256];
    if (stdout_ == nullptr || std::fgets(line, sizeof line, stdout_) == nullptr) return "";
    return line;
  }

  // Sends SIGTERM and returns the exit status (or -signal).
  int Terminate() { return Signal(SIGTERM); }
  int Kill() { return Signal(SIGKILL); }

  // One request on a fresh connection (Connection: close).
  HttpReply Request(const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& headers = "") const {
    return RequestOn(port_, method, target, body, headers);
  }
  // The same to another of the server's ports (status 0 if none answers).
  HttpReply RequestOn(int port, const std::string& method, const std::string& target,
                      const std::string& body = "", const std::string& headers = "") const {
    return ParseReply(SendRaw(RequestText(method, target, body, headers), port));
  }
  // The bytes of such a request (a JSON body, if any; Connection: close).
  static std::string RequestText(const std::string& method, const std::string& target,
                                 const std::string& body = "", const std::string& headers = "") {
    std::string req =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers;
    if (!body.empty()) {
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n";
    }
    return req + "\r\n" + body;
  }

  // Writes raw bytes on a new connection, reads until the server closes it.
  std::string SendRaw(const std::string& bytes, int port = 0) const {
    std::string reply;
    const int fd = ConnectLoopback(port != 0 ? port : port_);
    if (fd < 0) return reply;
    SendAll(fd, bytes);
    char buf[65536];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
      reply.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return reply;
  }

  static HttpReply ParseReply(const std::string& raw) {
    HttpReply r;
    const auto end = raw.find("\r\n\r\n");
    if (end == std::string::npos) return r;
    r.head = raw.substr(0, end);
    r.body = raw.substr(end + 4);
    std::sscanf(raw.c_str(), "HTTP/1.1 %d", &r.status);
    return r;
  }

 private:
  int Signal(int sig) {
    if (pid_ <= 0 || exited_) return -1;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  pid_t pid_ = -1;
  FILE* stdout_ = nullptr;
  std::string first_line_;
  int port_ = 0;
  bool exited_ = false;
};

}  // namespace eventflow::testing
