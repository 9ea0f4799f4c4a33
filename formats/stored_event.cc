#include "formats/stored_event.h"

#include <charconv>
#include <cstring>
#include <limits>

#include "formats/timestamp.h"

namespace eventflow {

namespace {
constexpr std::string_view kEventIdOpen = "{\"event_id\":\"";
constexpr std::string_view kStreamIdOpen = "\",\"stream_id\":\"";
constexpr std::string_view kOffsetOpen = "\",\"offset\":";
constexpr std::string_view kCreatedOpen = ",\"created_at\":\"";
constexpr std::string_view kClose = "\"}";
constexpr size_t kMaxOffsetDigits = 20;
// A compact payload: `{"event_id":"<36>"` (kIdEnd bytes), the members, `}`.
constexpr size_t kIdEnd = kEventIdOpen.size() + 36 + 1;

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

size_t EventDraft::CompactSize() const { return kIdEnd + members.size() + 1; }

size_t RenderCompactEvent(const EventDraft& draft, char* dst) {
  char* p = Put(dst, kEventIdOpen);
  draft.event_id.FormatTo(p);
  p += 36;
  *p++ = '"';
  p = Put(p, draft.members);
  *p++ = '}';
  return static_cast<size_t>(p - dst);
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

EventJsonRenderer::EventJsonRenderer(const Uuid& stream_id)
    : formatted_ms_(std::numeric_limits<int64_t>::min()) {
  stream_id.FormatTo(stream_id_);
}

void EventJsonRenderer::AppendTo(std::string_view payload, bool compact, uint64_t offset,
                                 int64_t created_at_ms, std::string* out) {
  if (!compact || payload.size() < kIdEnd + 1 || payload[kIdEnd - 1] != '"' ||
      payload.back() != '}' || payload.substr(0, kEventIdOpen.size()) != kEventIdOpen) {
    out->append(payload);
    return;
  }
  if (created_at_ms != formatted_ms_) {
    timestamp::FormatTo(created_at_ms, formatted_);
    formatted_ms_ = created_at_ms;
  }
  const std::string_view members = payload.substr(kIdEnd, payload.size() - kIdEnd - 1);
  const size_t at = out->size();
  out->resize(at + kIdEnd - 1 + kStreamIdOpen.size() + 36 + kOffsetOpen.size() + kMaxOffsetDigits +
              members.size() + kCreatedOpen.size() + timestamp::kFormattedSize + kClose.size());
  char* p = Put(out->data() + at, payload.substr(0, kIdEnd - 1));
  p = Put(p, kStreamIdOpen);
  p = Put(p, std::string_view(stream_id_, sizeof stream_id_));
  p = Put(p, kOffsetOpen);
  p = std::to_chars(p, p + kMaxOffsetDigits, offset).ptr;
  p = Put(p, members);
  p = Put(p, kCreatedOpen);
  p = Put(p, std::string_view(formatted_, sizeof formatted_));
  p = Put(p, kClose);
  out->resize(static_cast<size_t>(p - out->data()));
}

std::string_view EventJsonRenderer::Render(std::string_view payload, bool compact, uint64_t offset,
                                           int64_t created_at_ms) {
  if (!compact) return payload;
  scratch_.clear();
  AppendTo(payload, compact, offset, created_at_ms, &scratch_);
  return scratch_;
}

std::optional<Uuid> PeekEventId(std::string_view json) {
  if (json.size() < kEventIdOpen.size() + 36 || json.substr(0, kEventIdOpen.size()) != kEventIdOpen)
    return std::nullopt;
  return Uuid::Parse(json.substr(kEventIdOpen.size(), 36));
}

PeekedKey PeekEventKey(std::string_view json, bool compact) {
  PeekedKey out;
  if (json.substr(0, kEventIdOpen.size()) != kEventIdOpen) return out;
  size_t p = 0;  // where the members start
  if (compact) {
    // {"event_id":"<36>"[,"key":"..."],...}
    if (json.size() < kIdEnd + 1 || json[kIdEnd - 1] != '"') return out;
    p = kIdEnd;
  } else {
    // {"event_id":"<36>","stream_id":"<36>","offset":N[,"key":"..."],...
    const size_t offset_at = kEventIdOpen.size() + 36 + kStreamIdOpen.size() + 36;
    if (json.size() < offset_at + kOffsetOpen.size() + 1 ||
        json.substr(offset_at, kOffsetOpen.size()) != kOffsetOpen) {
      return out;
    }
    p = offset_at + kOffsetOpen.size();
    const size_t digits_at = p;
    while (p < json.size() && json[p] >= '0' && json[p] <= '9') ++p;
    if (p == digits_at) return out;
  }
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
