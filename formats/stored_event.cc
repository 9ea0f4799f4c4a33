#include "formats/stored_event.h"

#include <charconv>
#include <cstring>

#include "formats/timestamp.h"

namespace eventflow {

namespace {
constexpr std::string_view kEventIdOpen = "{\"event_id\":\"";
constexpr std::string_view kStreamIdOpen = "\",\"stream_id\":\"";
constexpr std::string_view kOffsetOpen = "\",\"offset\":";
constexpr std::string_view kCreatedOpen = ",\"created_at\":\"";
constexpr std::string_view kClose = "\"}";
constexpr size_t kMaxOffsetDigits = 20;

char* Put(char* dst, std::string_view s) {
  std::memcpy(dst, s.data(), s.size());
  return dst + s.size();
}
}  // namespace

size_t EventDraft::RenderedSize() const {
  return kEventIdOpen.size() + 36 + kStreamIdOpen.size() + 36 + kOffsetOpen.size() +
         kMaxOffsetDigits + members.size() + kCreatedOpen.size() + timestamp::kFormattedSize +
         kClose.size();
}

size_t RenderStoredEvent(const EventDraft& draft, const Uuid& stream_id, uint64_t offset,
                         int64_t created_at_ms, char* dst) {
  char* p = Put(dst, kEventIdOpen);
  draft.event_id.FormatTo(p);
  p = Put(p + 36, kStreamIdOpen);
  stream_id.FormatTo(p);
  p = Put(p + 36, kOffsetOpen);
  p = std::to_chars(p, p + kMaxOffsetDigits, offset).ptr;
  p = Put(p, draft.members);
  p = Put(p, kCreatedOpen);
  timestamp::FormatTo(created_at_ms, p);
  p = Put(p + timestamp::kFormattedSize, kClose);
  return static_cast<size_t>(p - dst);
}

std::string RenderStoredEvent(const EventDraft& draft, const Uuid& stream_id, uint64_t offset,
                              int64_t created_at_ms) {
  std::string out(draft.RenderedSize(), '\0');
  out.resize(RenderStoredEvent(draft, stream_id, offset, created_at_ms, out.data()));
  return out;
}

std::optional<Uuid> PeekEventId(std::string_view json) {
  if (json.size() < kEventIdOpen.size() + 36 || json.substr(0, kEventIdOpen.size()) != kEventIdOpen)
    return std::nullopt;
  return Uuid::Parse(json.substr(kEventIdOpen.size(), 36));
}

PeekedKey PeekEventKey(std::string_view json) {
  PeekedKey out;
  // {"event_id":"<36>","stream_id":"<36>","offset":N[,"key":"..."],...
  const size_t offset_at = kEventIdOpen.size() + 36 + kStreamIdOpen.size() + 36;
  if (json.size() < offset_at + kOffsetOpen.size() + 1 ||
      json.substr(0, kEventIdOpen.size()) != kEventIdOpen ||
      json.substr(offset_at, kOffsetOpen.size()) != kOffsetOpen) {
    return out;
  }
  size_t p = offset_at + kOffsetOpen.size();
  const size_t digits_at = p;
  while (p < json.size() && json[p] >= '0' && json[p] <= '9') ++p;
  if (p == digits_at) return out;
  constexpr std::string_view kKeyOpen = ",\"key\":\"";
  out.rendered = true;
  if (json.substr(p, kKeyOpen.size()) != kKeyOpen) return out;
  p += kKeyOpen.size();
  const size_t key_at = p;
  // The renderer escapes '"' and '\\', so the first unescaped quote ends it.
  while (p < json.size() && json[p] != '"') p += json[p] == '\\' ? 2 : 1;
  if (p >= json.size()) {
    out.rendered = false;
    return out;
  }
  out.escaped_key = json.substr(key_at, p - key_at);
  return out;
}

}  // namespace eventflow
