// The `eventflow` binary: `serve` runs the server on a data directory.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli/admin_commands.h"
#include "cli/segments_command.h"
#include "engine/engine.h"
#include "engine/fault_injection.h"
#include "net/api.h"
#include "net/cleanup_runner.h"
#include "net/http_server.h"
#include "net/key_store.h"
#include "net/logging.h"

namespace {

struct ServeFlags {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:8080";
  std::string metrics_listen;  // empty: /metrics on the API listener
  eventflow::TlsFiles tls;     // no cert: plain HTTP
  std::string fsync = "always";
  std::string bootstrap_key;
  uint64_t segment_bytes = 128u << 20;
  uint64_t max_event_bytes = 1u << 20;
  uint64_t max_batch_bytes = 16u << 20;
  uint64_t max_inflight_body_bytes = 256u << 20;
  uint32_t max_batch_events = 10000;
  size_t max_parked_polls = 10000;
  uint64_t max_bytes_per_org = 0;
  size_t max_groups_per_stream = 1000;
  uint32_t max_header_bytes = 16 * 1024;
  int header_timeout_ms = 10000;
  int idle_timeout_ms = 60000;
  int max_connections = 20000;
  size_t max_streams_per_org = 10000;
  double default_rate_limit = 0;
  int io_threads = 2;
  int64_t cleanup_interval_s = 300;
  bool no_metrics = false;
  std::string log_format = "text";
  std::string log_level = "info";
  uint64_t min_free_bytes = 64u << 20;
};

// Raises the open-file limit (before storage opens its files) toward what
// `max_connections` sockets need beside storage.
void RaiseFileLimit(int max_connections) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  const rlim_t want =
      static_cast<rlim_t>(max_connections) + eventflow::Index::kDefaultMaxOpenFiles + 4096;
  if (lim.rlim_cur >= want) return;
  lim.rlim_cur = std::min(want, lim.rlim_max);
  setrlimit(RLIMIT_NOFILE, &lim);  // else the connections are fitted to the old limit
}

// The open-file limit (after RaiseFileLimit).
rlim_t FileLimit() {
  rlimit lim{};
  return getrlimit(RLIMIT_NOFILE, &lim) == 0 ? lim.rlim_cur : RLIM_INFINITY;
}

// The index's share of the open-file limit: an eighth, 32 to 512 table files.
int IndexOpenFiles(rlim_t file_limit) {
  return static_cast<int>(
      std::clamp<rlim_t>(file_limit / 8, 32, eventflow::Index::kDefaultMaxOpenFiles));
}

// How many connections fit under the open-file limit: less the descriptors
// open now (segments, RocksDB, the server's own), what the index may still
// open (`index_open_files` at most) and room for new segments and streams
// (a quarter of the limit, 64 to 1024). A connection past it is refused, so
// running out of descriptors does not fail storage.
int FitConnections(int max_connections, int index_open_files) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return max_connections;
  const auto open_now = static_cast<rlim_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator()));
  const rlim_t reserve = open_now + static_cast<rlim_t>(index_open_files) +
                         std::clamp<rlim_t>(lim.rlim_cur / 4, 64, 1024);
  const rlim_t fit = lim.rlim_cur > reserve ? lim.rlim_cur - reserve : 1;
  if (fit >= static_cast<rlim_t>(max_connections)) return max_connections;
  spdlog::info(
      "serving at most {} connections (--max-connections {}): the open-file limit is {} and "
      "storage keeps {} of it",
      fit, max_connections, lim.rlim_cur, reserve);
  return static_cast<int>(fit);
}

// HOST:PORT into `host` and `port`; false if it is not that.
bool ParseListen(const std::string& listen, std::string* host, unsigned short* port) {
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string digits = listen.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const unsigned long value = std::stoul(digits);
  if (value > 65535) return false;
  *host = listen.substr(0, colon);
  *port = static_cast<unsigned short>(value);
  return true;
}

int Serve(const ServeFlags& flags) {
  using namespace eventflow;
  if (Status s = ConfigureLogging(flags.log_format, flags.log_level); !s.ok()) {
    std::cerr << "eventflow serve: " << s.message() << "\n";
    return 2;
  }
  auto fsync = FsyncPolicy::Parse(flags.fsync);
  if (!fsync.ok()) {
    std::cerr << "eventflow serve: " << fsync.status().message() << "\n";
    return 2;
  }
  HttpServerOptions http;
  if (!ParseListen(flags.listen, &http.host, &http.port)) {
    std::cerr << "eventflow serve: --listen must be HOST:PORT\n";
    return 2;
  }
  if (flags.tls.cert.empty() != flags.tls.key.empty()) {
    std::cerr << "eventflow serve: --tls-cert and --tls-key go together\n";
    return 2;
  }
  if (!flags.tls.client_ca.empty() && flags.tls.cert.empty()) {
    std::cerr << "eventflow serve: --tls-client-ca needs --tls-cert and --tls-key\n";
    return 2;
  }
  http.tls = flags.tls;
  // The metrics listener: one io thread and a few connections, for scrapers.
  HttpServerOptions metrics_http;
  metrics_http.io_threads = 1;
  metrics_http.max_connections = 64;
  if (!flags.metrics_listen.empty()) {
    if (flags.no_metrics) {
      std::cerr << "eventflow serve: --metrics-listen and --no-metrics contradict each other\n";
      return 2;
    }
    if (!ParseListen(flags.metrics_listen, &metrics_http.host, &metrics_http.port)) {
      std::cerr << "eventflow serve: --metrics-listen must be HOST:PORT\n";
      return 2;
    }
  }
  http.io_threads = flags.io_threads;
  http.header_timeout_ms = flags.header_timeout_ms;
  http.idle_timeout_ms = flags.idle_timeout_ms;
  http.max_header_bytes = flags.max_header_bytes;
  RaiseFileLimit(flags.max_connections);
  http.max_inflight_body_bytes = flags.max_inflight_body_bytes;

  EngineOptions eo;
  eo.data_dir = flags.data_dir;
  eo.segment_bytes = flags.segment_bytes;
  eo.fsync = *fsync;
  eo.max_streams_per_org = flags.max_streams_per_org;
  eo.index_max_open_files = IndexOpenFiles(FileLimit());
  eo.start_writers = false;  // after the server's own threads, below
  // Tests only: EVENTFLOW_FAULTS injects I/O errors into the engine's files
  // and the index's (engine/fault_injection.h, docs/testing.md).
  FaultPlan fault_plan;
  std::unique_ptr<FaultInjectingFileOps> fault_files;
  std::unique_ptr<rocksdb::Env> fault_env;
  if (const char* faults = std::getenv("EVENTFLOW_FAULTS"); faults != nullptr && *faults) {
    auto rules = ParseFaultPlan(faults);
    if (!rules.ok()) {
      std::cerr << "eventflow serve: EVENTFLOW_FAULTS: " << rules.status().message() << "\n";
      return 2;
    }
    spdlog::warn("EVENTFLOW_FAULTS is set: injecting I/O errors ({}); for tests only", faults);
    fault_plan.Reset(*rules);
    fault_files = std::make_unique<FaultInjectingFileOps>(FileOps::Posix(), *rules);
    fault_env = NewFaultInjectingEnv(&fault_plan);
    eo.fops = fault_files.get();
    eo.index_env = fault_env.get();
  }
  auto engine = Engine::Open(eo);
  if (!engine.ok()) {
    std::cerr << "eventflow serve: " << engine.status().ToString() << "\n";
    return 1;
  }
  auto keys = KeyStore::Open(&(*engine)->index(), flags.default_rate_limit);
  if (!keys.ok()) {
    std::cerr << "eventflow serve: " << keys.status().ToString() << "\n";
    return 1;
  }
  auto boot = (*keys)->Bootstrap(flags.bootstrap_key);
  if (!boot.ok()) {
    std::cerr << "eventflow serve: " << boot.status().ToString() << "\n";
    return 1;
  }
  if (boot->has_value() && flags.bootstrap_key.empty()) {
    std::cerr << "eventflow: created admin key for org 'default' (shown once): " << **boot << "\n";
  }
  ApiOptions ao;
  ao.max_event_bytes = flags.max_event_bytes;
  ao.max_batch_bytes = flags.max_batch_bytes;
  ao.max_batch_events = flags.max_batch_events;
  ao.max_parked_polls = flags.max_parked_polls;
  ao.max_bytes_per_org = flags.max_bytes_per_org;
  ao.max_groups_per_stream = flags.max_groups_per_stream;
  ao.metrics = !flags.no_metrics;
  ao.metrics_listener_apart = !flags.metrics_listen.empty();
  ao.min_free_bytes = flags.min_free_bytes;
  // The handler is bound before the Api exists (it needs the server's
  // executor for long-poll timers); requests only arrive once Run starts.
  std::unique_ptr<Api> api;
  http.on_refused = [&api](int status) {
    if (api) api->CountRefused(status);
  };
  // After the engine and the index have opened what they keep open.
  http.max_connections = FitConnections(flags.max_connections, eo.index_max_open_files);
  auto server = HttpServer::Bind(
      http, [&api](const HttpRequestHeader& header) { return api->Admit(header); });
  if (!server.ok()) {
    std::cerr << "eventflow serve: " << server.status().message() << "\n";
    return 1;
  }
  std::unique_ptr<HttpServer> metrics_server;
  if (ao.metrics_listener_apart) {
    metrics_http.header_timeout_ms = flags.header_timeout_ms;
    metrics_http.max_header_bytes = flags.max_header_bytes;
    auto bound = HttpServer::Bind(metrics_http, [&api](const HttpRequestHeader& header) {
      return api->Admit(header, Api::Listener::kMetrics);
    });
    if (!bound.ok()) {
      std::cerr << "eventflow serve: --metrics-listen: " << bound.status().message() << "\n";
      return 1;
    }
    metrics_server = std::move(*bound);
  }
  ao.open_connections = [s = server->get()] { return s->open_connections(); };
  Engine* e = engine->get();
  std::unique_ptr<CleanupScheduler> cleanup;
  try {
    api = std::make_unique<Api>(engine->get(), keys->get(), ao, (*server)->executor());
    if (flags.cleanup_interval_s > 0) {
      cleanup = std::make_unique<CleanupScheduler>(e, flags.cleanup_interval_s * 1000);
    }
  } catch (const std::exception& err) {  // std::thread's or Asio's thread pool's system_error
    std::cerr << "eventflow serve: cannot start the server's threads: " << err.what() << "\n";
    return 1;
  }
  std::printf("listening on %s:%u%s\n", (*server)->host().c_str(), (*server)->port(),
              flags.tls.enabled() ? " (TLS)" : "");
  if (metrics_server) {
    std::printf("metrics on %s:%u\n", metrics_server->host().c_str(), metrics_server->port());
  }
  std::fflush(stdout);
  // The metrics listener runs beside the API's and stops with it (SIGTERM
  // reaches both; Stop covers the API listener stopping for another reason).
  std::thread metrics_thread;
  if (metrics_server) {
    try {
      metrics_thread = std::thread([&metrics_server] { metrics_server->Run(); });
    } catch (const std::system_error& err) {
      std::cerr << "eventflow serve: cannot start the metrics listener: " << err.what() << "\n";
      return 1;
    }
  }
  spdlog::info("serving with {} io threads on {}", http.io_threads, HttpServer::IoBackend());
  auto stop = [e, &api] {
    // Parked long-polls answer now with what they have.
    api->StopProcessing();
    for (const auto& s : e->ListStreams()) {
      if (s->log) s->log->waiters().Shutdown();
    }
  };
  // Streams get their writers once the server's own threads run: past a
  // thread limit some streams take no appends, and the server still starts.
  auto start_writers = [e] {
    if (const size_t without = e->StartWriters()) {
      spdlog::critical("{} stream(s) take no appends: no threads for their writers", without);
    }
  };
  const bool served = (*server)->Run(stop, start_writers);
  if (metrics_thread.joinable()) {
    metrics_server->Stop();
    metrics_thread.join();
  }
  cleanup.reset();  // a run in progress finishes first
  api->Drain();
  spdlog::info("shutting down: flushing streams");
  (*engine)->Close();
  return served ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr: stdout's first line is "listening on HOST:PORT".
  spdlog::set_default_logger(spdlog::stderr_color_mt("eventflow"));
  CLI::App app{"EventFlow: a durable HTTP event log server"};
  app.require_subcommand(1);
  ServeFlags f;
  auto* serve = app.add_subcommand("serve", "Run the server");
  serve->add_option("--data-dir", f.data_dir, "Data directory")->envname("EVENTFLOW_DATA_DIR");
  serve->add_option("--listen", f.listen, "HOST:PORT (port 0 picks one)")
      ->envname("EVENTFLOW_LISTEN");
  serve
      ->add_option("--tls-cert", f.tls.cert,
                   "PEM certificate chain: the listener then speaks only TLS (1.2+)")
      ->envname("EVENTFLOW_TLS_CERT");
  serve->add_option("--tls-key", f.tls.key, "PEM private key of --tls-cert")
      ->envname("EVENTFLOW_TLS_KEY");
  serve
      ->add_option("--tls-client-ca", f.tls.client_ca,
                   "PEM CA certificates: clients must present a certificate one signed")
      ->envname("EVENTFLOW_TLS_CLIENT_CA");
  serve
      ->add_option("--metrics-listen", f.metrics_listen,
                   "HOST:PORT serving GET /metrics apart from the API (which then answers 404)")
      ->envname("EVENTFLOW_METRICS_LISTEN");
  serve
      ->add_option("--bootstrap-key", f.bootstrap_key,
                   "Admin key secret to create when there are no keys")
      ->envname("EVENTFLOW_BOOTSTRAP_KEY");
  serve->add_option("--fsync", f.fsync, "always | interval:MS | never")->envname("EVENTFLOW_FSYNC");
  serve->add_option("--segment-bytes", f.segment_bytes, "Segment size limit")
      ->envname("EVENTFLOW_SEGMENT_BYTES")
      ->check(CLI::Range(uint64_t{1} << 16, uint64_t{1} << 34));
  serve->add_option("--max-event-bytes", f.max_event_bytes, "Largest event")
      ->envname("EVENTFLOW_MAX_EVENT_BYTES")
      ->check(CLI::Range(uint64_t{1} << 10, uint64_t{32} << 20));
  serve->add_option("--max-batch-bytes", f.max_batch_bytes, "Largest batch request body")
      ->envname("EVENTFLOW_MAX_BATCH_BYTES")
      ->check(CLI::Range(uint64_t{1} << 10, uint64_t{256} << 20));
  serve
      ->add_option("--max-inflight-body-bytes", f.max_inflight_body_bytes,
                   "Request bodies read or handled at once (503 past it)")
      ->envname("EVENTFLOW_MAX_INFLIGHT_BODY_BYTES")
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 40));
  serve
      ->add_option("--max-parked-polls", f.max_parked_polls,
                   "Long-polls waiting at once (past it a poll answers at once)")
      ->envname("EVENTFLOW_MAX_PARKED_POLLS")
      ->check(CLI::Range(size_t{0}, size_t{1'000'000}));
  serve
      ->add_option("--max-groups-per-stream", f.max_groups_per_stream,
                   "Consumer groups per stream (403 quota_exceeded past it)")
      ->envname("EVENTFLOW_MAX_GROUPS_PER_STREAM")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000}));
  serve
      ->add_option("--max-bytes-per-org", f.max_bytes_per_org,
                   "Bytes an org's streams may store (0: unlimited; 507 past it)")
      ->envname("EVENTFLOW_MAX_BYTES_PER_ORG");
  serve->add_option("--max-batch-events", f.max_batch_events, "Most events in a batch")
      ->envname("EVENTFLOW_MAX_BATCH_EVENTS")
      ->check(CLI::Range(1u, 1000000u));
  serve->add_option("--max-header-bytes", f.max_header_bytes, "Largest request line + headers")
      ->envname("EVENTFLOW_MAX_HEADER_BYTES")
      ->check(CLI::Range(1024u, 1u << 20));
  serve->add_option("--header-timeout-ms", f.header_timeout_ms, "Time to receive a request")
      ->envname("EVENTFLOW_HEADER_TIMEOUT_MS")
      ->check(CLI::Range(100, 600000));
  serve->add_option("--idle-timeout-ms", f.idle_timeout_ms, "Idle keep-alive timeout")
      ->envname("EVENTFLOW_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(100, 3600000));
  serve->add_option("--max-connections", f.max_connections, "Open connections at most")
      ->envname("EVENTFLOW_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 1000000));
  serve
      ->add_option("--max-streams-per-org", f.max_streams_per_org,
                   "Streams one org may have (more: 403 quota_exceeded)")
      ->envname("EVENTFLOW_MAX_STREAMS_PER_ORG")
      ->check(CLI::Range(size_t{1}, size_t{10'000'000}));
  serve
      ->add_option("--default-rate-limit", f.default_rate_limit,
                   "Requests/s for keys without their own limit (0: unlimited)")
      ->envname("EVENTFLOW_DEFAULT_RATE_LIMIT")
      ->check(CLI::Range(0.0, 1e9));
  serve->add_option("--io-threads", f.io_threads, "I/O threads")
      ->envname("EVENTFLOW_IO_THREADS")
      ->check(CLI::Range(1, 256));
  serve
      ->add_option("--cleanup-interval-s", f.cleanup_interval_s,
                   "Seconds between retention/compaction runs (0: only on demand)")
      ->envname("EVENTFLOW_CLEANUP_INTERVAL_S")
      ->check(CLI::Range(int64_t{0}, int64_t{86400 * 7}));
  serve->add_flag("--no-metrics", f.no_metrics, "Turn GET /metrics off")
      ->envname("EVENTFLOW_NO_METRICS");
  serve->add_option("--log-format", f.log_format, "text | json (JSON lines)")
      ->envname("EVENTFLOW_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  serve->add_option("--log-level", f.log_level, "trace | debug | info | warn | error")
      ->envname("EVENTFLOW_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  serve
      ->add_option("--min-free-bytes", f.min_free_bytes,
                   "/readyz fails below this much free space on the data dir's filesystem")
      ->envname("EVENTFLOW_MIN_FREE_BYTES");
  // Config file: TOML/INI with the flags of `serve` under a [serve] section.
  // EVENTFLOW_CONFIG names a default file (CLI11 2.1 reads no env var for
  // the config option itself); a named file must exist.
  const char* config_env = std::getenv("EVENTFLOW_CONFIG");
  app.set_config("--config", config_env != nullptr ? config_env : "",
                 "Read flags from a TOML/INI config file ([serve] section)",
                 /*config_required=*/config_env != nullptr);
  eventflow::cli::SegmentsCommand segments(&app);
  eventflow::cli::AdminCommands admin(&app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own codes (106, 109, ...) would hide that this is a usage error.
    (void)app.exit(e);
    return 2;
  }
  if (*serve) return Serve(f);
  if (auto rc = segments.Run()) return *rc;
  if (auto rc = admin.Run()) return *rc;
  return 2;
}
