// ef_outbox_relay: runs an OutboxRelay over a SQLite outbox until SIGTERM or
// SIGINT.
//   ef_outbox_relay --db PATH --server HOST:PORT --api-key KEY [--batch N]
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "client/outbox_relay.h"

namespace {

eventflow::client::OutboxRelay* g_relay = nullptr;

void OnSignal(int) {
  if (g_relay != nullptr) g_relay->Stop();
}

}  // namespace

int main(int argc, char** argv) {
  eventflow::client::ClientOptions client;
  eventflow::client::RelayOptions options;
  std::string server = "127.0.0.1:8080";
  if (const char* key = std::getenv("EVENTFLOW_API_KEY")) client.api_key = key;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--db") {
      options.db_path = value;
    } else if (flag == "--server") {
      server = value;
    } else if (flag == "--api-key") {
      client.api_key = value;
    } else if (flag == "--batch") {
      options.batch_size = std::atoi(value.c_str());
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (options.db_path.empty() || !client.SetAddress(server) || options.batch_size <= 0) {
    std::fprintf(stderr,
                 "usage: ef_outbox_relay --db PATH --server HOST:PORT --api-key KEY [--batch N]\n");
    return 2;
  }
  auto relay = eventflow::client::OutboxRelay::Open(client, options);
  if (!relay.ok()) {
    std::fprintf(stderr, "ef_outbox_relay: %s\n", relay.error().ToString().c_str());
    return 1;
  }
  g_relay = relay->get();
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  std::printf("relay started\n");
  std::fflush(stdout);
  (*relay)->Run();
  const auto stats = (*relay)->stats();
  std::fprintf(stderr, "ef_outbox_relay: published %llu (%llu duplicates), failed %llu\n",
               static_cast<unsigned long long>(stats.published),
               static_cast<unsigned long long>(stats.duplicates),
               static_cast<unsigned long long>(stats.failed));
  g_relay = nullptr;
  return 0;
}
