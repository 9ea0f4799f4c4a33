// Client library throughput against a real EventFlow server on loopback.
// Workloads (one JSON line each on stdout):
//   single   N single-event publishes, `--in-flight` (64) outstanding at once
//   batch    N events in batches of `--batch` (1000), one batch in flight
//   consume  the batch stream read back by a Consumer, committing per poll
//            of `--batch` events
// The server is started here from `--eventflow BIN` with a fresh data dir
// (its default --fsync always), or reached at `--server HOST:PORT` with
// `--api-key KEY` (streams are created, so the key needs no admin rights).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "client/consumer.h"
#include "client/producer.h"

namespace ec = eventflow::client;
using Clock = std::chrono::steady_clock;

namespace {

struct Flags {
  std::string eventflow;
  std::string server;
  std::string api_key = "bench-admin-secret";
  int events = 50000;
  int in_flight = 64;
  int batch = 1000;
};

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void Report(const char* workload, int events, double seconds, int errors) {
  std::printf(
      "{\"workload\":\"%s\",\"events\":%d,\"seconds\":%.3f,\"events_per_s\":%.0f,"
      "\"errors\":%d}\n",
      workload, events, seconds, events / seconds, errors);
  std::fflush(stdout);
}

ec::Event MakeEvent(int i) {
  ec::Event e;
  e.event_type = "TaskCreated";
  e.key = "org-" + std::to_string(i % 100);
  e.payload_json = "{\"taskId\":\"t-" + std::to_string(i) +
                   "\",\"title\":\"benchmark task\",\"organizationId\":\"org-" +
                   std::to_string(i % 100) + "\"}";
  return e;
}

bool CreateStream(ec::HttpClient& http, const std::string& name) {
  ec::HttpRequest req = ec::MakeRequest("POST", "/api/v1/streams");
  req.body = "{\"name\":\"" + name + "\"}";
  auto r = http.SendSync(req);
  return r.ok() && (r->status == 201 || r->status == 409);
}

int SinglePublishes(ec::Producer& producer, const Flags& f) {
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0, errors = 0, done = 0;
  const auto start = Clock::now();
  for (int i = 0; i < f.events; ++i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return outstanding < f.in_flight; });
      ++outstanding;
    }
    producer.PublishAsync("bench.single", MakeEvent(i), [&](ec::Result<ec::PublishAck> r) {
      std::lock_guard lock(mu);
      if (!r.ok()) ++errors;
      --outstanding;
      ++done;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done == f.events; });
  Report("single", f.events, Seconds(start), errors);
  return errors;
}

int BatchPublishes(ec::Producer& producer, const Flags& f) {
  int errors = 0;
  const auto start = Clock::now();
  for (int i = 0; i < f.events; i += f.batch) {
    std::vector<ec::Event> events;
    for (int j = i; j < std::min(f.events, i + f.batch); ++j) events.push_back(MakeEvent(j));
    auto r = producer.PublishBatch("bench.batch", std::move(events));
    if (!r.ok()) ++errors;
  }
  Report("batch", f.events, Seconds(start), errors);
  return errors;
}

int Consume(const ec::ClientOptions& options, const Flags& f) {
  ec::ConsumerOptions co;
  co.stream = "bench.batch";
  co.group = "bench";
  co.max_events = f.batch;
  co.poll_timeout = std::chrono::milliseconds(0);
  int seen = 0;
  auto consumer = ec::Consumer::Open(options, co, [&](const ec::ReceivedEvent&) {
    ++seen;
    return ec::Status::Ok();
  });
  if (!consumer.ok()) return 1;
  int errors = 0;
  const auto start = Clock::now();
  while (seen < f.events && errors < 10) {
    auto n = (*consumer)->PollOnce();
    if (!n.ok()) ++errors;
  }
  Report("consume", seen, Seconds(start), errors);
  std::fprintf(stderr, "consume: %llu commits\n",
               static_cast<unsigned long long>((*consumer)->stats().commits));
  return errors;
}

pid_t StartServer(const Flags& f, const std::string& data_dir, int* port) {
  int out[2];
  if (::pipe(out) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    const char* argv[] = {f.eventflow.c_str(),
                          "serve",
                          "--listen",
                          "127.0.0.1:0",
                          "--data-dir",
                          data_dir.c_str(),
                          "--bootstrap-key",
                          f.api_key.c_str(),
                          "--log-level",
                          "warn",
                          nullptr};
    ::execv(argv[0], const_cast<char**>(argv));
    ::_exit(127);
  }
  ::close(out[1]);
  FILE* in = ::fdopen(out[0], "r");
  char line[256] = {};
  unsigned p = 0;
  if (std::fgets(line, sizeof line, in) == nullptr ||
      std::sscanf(line, "listening on 127.0.0.1:%u", &p) != 1) {
    p = 0;
  }
  std::fclose(in);
  *port = static_cast<int>(p);
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--eventflow")
      f.eventflow = value;
    else if (flag == "--server")
      f.server = value;
    else if (flag == "--api-key")
      f.api_key = value;
    else if (flag == "--events")
      f.events = std::atoi(value.c_str());
    else if (flag == "--in-flight")
      f.in_flight = std::atoi(value.c_str());
    else if (flag == "--batch")
      f.batch = std::atoi(value.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (f.eventflow.empty() == f.server.empty() || f.events <= 0 || f.batch <= 0 ||
      f.in_flight <= 0) {
    std::fprintf(stderr,
                 "usage: client_bench (--eventflow BIN | --server HOST:PORT --api-key KEY)"
                 " [--events N] [--in-flight N] [--batch N]\n");
    return 2;
  }
  ec::ClientOptions options;
  options.api_key = f.api_key;
  options.max_connections = static_cast<size_t>(f.in_flight);
  pid_t server = -1;
  std::string data_dir;
  if (!f.eventflow.empty()) {
    data_dir =
        (std::filesystem::temp_directory_path() / ("ef-client-bench-" + std::to_string(::getpid())))
            .string();
    std::filesystem::create_directories(data_dir);
    int port = 0;
    server = StartServer(f, data_dir, &port);
    if (port == 0) {
      std::fprintf(stderr, "server did not start\n");
      return 1;
    }
    options.port = static_cast<uint16_t>(port);
  } else if (!options.SetAddress(f.server)) {
    std::fprintf(stderr, "bad --server\n");
    return 2;
  }
  int errors = 0;
  {
    auto producer = ec::Producer::Open(options);
    if (!producer.ok() || !CreateStream((*producer)->http(), "bench.single") ||
        !CreateStream((*producer)->http(), "bench.batch")) {
      std::fprintf(stderr, "setup failed\n");
      errors = 1;
    } else {
      errors += SinglePublishes(**producer, f);
      errors += BatchPublishes(**producer, f);
      errors += Consume(options, f);
    }
  }
  if (server > 0) {
    ::kill(server, SIGTERM);
    ::waitpid(server, nullptr, 0);
    std::filesystem::remove_all(data_dir);
  }
  return errors == 0 ? 0 : 1;
}
