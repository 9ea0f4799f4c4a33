// The `eventflow` binary: `serve` runs the server on a data directory.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "engine/engine.h"
#include "net/health_server.h"

namespace {

struct ServeFlags {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:8080";
  std::string fsync = "always";
  uint64_t segment_bytes = 128u << 20;
  int io_threads = 2;
  int header_timeout_ms = 10000;
};

int Serve(const ServeFlags& flags) {
  using namespace eventflow;
  auto fsync = FsyncPolicy::Parse(flags.fsync);
  if (!fsync.ok()) {
    std::cerr << "eventflow serve: " << fsync.status().message() << "\n";
    return 2;
  }
  const auto colon = flags.listen.rfind(':');
  if (colon == std::string::npos) {
    std::cerr << "eventflow serve: --listen must be HOST:PORT\n";
    return 2;
  }
  HttpServerOptions http;
  http.host = flags.listen.substr(0, colon);
  try {
    http.port = static_cast<unsigned short>(std::stoul(flags.listen.substr(colon + 1)));
  } catch (const std::exception&) {
    std::cerr << "eventflow serve: bad port in --listen\n";
    return 2;
  }
  http.io_threads = flags.io_threads;
  http.header_timeout_ms = flags.header_timeout_ms;

  EngineOptions eo;
  eo.data_dir = flags.data_dir;
  eo.segment_bytes = flags.segment_bytes;
  eo.fsync = *fsync;
  auto engine = Engine::Open(eo);
  if (!engine.ok()) {
    std::cerr << "eventflow serve: " << engine.status().ToString() << "\n";
    return 1;
  }
  Engine* e = engine->get();
  http.ready = [e] {
    for (const auto& s : e->ListStreams()) {
      if (s->writer && !s->writer->healthy()) return false;
    }
    return true;
  };
  auto server = HealthServer::Bind(http);
  if (!server.ok()) {
    std::cerr << "eventflow serve: " << server.status().message() << "\n";
    return 1;
  }
  std::printf("listening on %s:%u\n", (*server)->host().c_str(), (*server)->port());
  std::fflush(stdout);
  (*server)->Run();
  spdlog::info("shutting down");
  (*engine)->Close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"EventFlow: a durable HTTP event log server"};
  app.require_subcommand(1);
  ServeFlags flags;
  auto* serve = app.add_subcommand("serve", "Run the server");
  serve->add_option("--data-dir", flags.data_dir, "Data directory")->envname("EVENTFLOW_DATA_DIR");
  serve->add_option("--listen", flags.listen, "HOST:PORT (port 0 picks one)")
      ->envname("EVENTFLOW_LISTEN");
  serve->add_option("--fsync", flags.fsync, "always | interval:MS | never")
      ->envname("EVENTFLOW_FSYNC");
  serve->add_option("--segment-bytes", flags.segment_bytes, "Segment size limit")
      ->envname("EVENTFLOW_SEGMENT_BYTES")
      ->check(CLI::Range(uint64_t{1} << 16, uint64_t{1} << 34));
  serve->add_option("--io-threads", flags.io_threads, "I/O threads")
      ->envname("EVENTFLOW_IO_THREADS")
      ->check(CLI::Range(1, 256));
  serve->add_option("--header-timeout-ms", flags.header_timeout_ms, "Header read timeout")
      ->envname("EVENTFLOW_HEADER_TIMEOUT_MS");
  serve->set_config("--config", "", "Read flags from a TOML/INI config file");
  CLI11_PARSE(app, argc, argv);
  if (*serve) return Serve(flags);
  return 2;
}
