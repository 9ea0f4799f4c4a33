// libFuzzer target: the producer's event envelope and batch parser
// (net/event_envelope.h). The first byte picks single or batch and whether
// a schema applies; the rest is the request body. Whatever is accepted must
// render to a stored event that is valid JSON.
#include <cstdint>
#include <memory>
#include <string>

#include "formats/json_schema.h"
#include "formats/stored_event.h"
#include "formats/uuid.h"
#include "net/event_envelope.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

const eventflow::JsonSchema* Schema() {
  static const auto schema = eventflow::JsonSchema::Compile(
      R"({"type":"object","required":["taskId"],"properties":{"taskId":{"type":"string",)"
      R"("pattern":"^t-[0-9]+$"},"n":{"type":"integer","minimum":0,"multipleOf":3}}})");
  return schema.ok() ? schema->get() : nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace eventflow;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  EnvelopeDefaults d;
  d.correlation_id = "fuzz";
  d.trace_id = "0af7651916cd43dd8448eb211c80319c";
  d.api_key_id = "key";
  d.source = "fuzzer";
  d.now_ms = 1'765'000'000'000;
  d.max_event_bytes = 64 * 1024;
  d.max_batch_events = 64;
  ValidationBudget budget;
  budget.steps_left = 100'000;
  if (mode & 2) {
    d.schema = Schema();
    d.budget = &budget;
  }
  std::vector<EventDraft> drafts;
  if (mode & 1) {
    if (ParseBatch(body, d, &drafts)) return 0;
  } else {
    EventDraft draft;
    if (ParseEvent(body, d, &draft)) return 0;
    drafts.push_back(std::move(draft));
  }
  for (EventDraft& draft : drafts) {
    if (draft.id_assigned_by_server) draft.event_id = Uuid::TimeOrdered();
    const std::string stored = RenderStoredEvent(draft, Uuid::Random(), 7, d.now_ms);
    if (!fuzz::ValidJson(stored)) fuzz::Fail("an accepted event renders as invalid JSON", stored);
  }
  return 0;
}
