// Writes a data directory with one stream of about N bytes of keyed events,
// straight through the engine (fsync never), for the operator command
// benchmarks in bench/cli_bench.sh. Usage: make_log DATA_DIR MIB KEYS
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include "engine/engine.h"

int main(int argc, char** argv) {
  using namespace eventflow;
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_log DATA_DIR MIB KEYS\n");
    return 2;
  }
  const uint64_t target = std::strtoull(argv[2], nullptr, 10) << 20;
  const uint64_t keys = std::strtoull(argv[3], nullptr, 10);
  EngineOptions eo;
  eo.data_dir = argv[1];
  eo.fsync = *FsyncPolicy::Parse("never");
  auto engine = Engine::Open(eo);
  if (!engine.ok()) {
    std::fprintf(stderr, "%s\n", engine.status().ToString().c_str());
    return 1;
  }
  auto stream = (*engine)->CreateStream("bench", "log", R"({"cleanup_policy":"compact"})");
  if (!stream.ok()) {
    std::fprintf(stderr, "%s\n", stream.status().ToString().c_str());
    return 1;
  }
  const std::string pad(800, 'p');
  uint64_t n = 0;
  while ((*stream)->log->bytes() < target) {
    std::vector<EventDraft> batch;
    for (int i = 0; i < 1000; ++i, ++n) {
      EventDraft d;
      d.id_assigned_by_server = true;
      d.has_key = true;
      d.key = "key-" + std::to_string(n % keys);
      d.members = ",\"key\":\"" + d.key + "\",\"payload\":{\"n\":" + std::to_string(n) +
                  ",\"pad\":\"" + pad +
                  "\"},\"metadata\":{\"event_type\":\"Bench\",\"event_version\":\"v1\"}";
      batch.push_back(std::move(d));
    }
    std::promise<Status> done;
    (*engine)->Append(*stream, std::move(batch),
                      [&](Status s, std::vector<EventAck>) { done.set_value(std::move(s)); });
    if (Status s = done.get_future().get(); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf("%llu events, %llu bytes\n", static_cast<unsigned long long>(n),
              static_cast<unsigned long long>((*stream)->log->bytes()));
  return 0;
}
