// The event JSON, as consumers and `?raw=true` see it, and the compact form a
// record stores it in. The HTTP layer builds everything but the id, offset
// and created_at (an EventDraft); the stream writer, which assigns them,
// renders the record payload from it without re-serialising the payload.
// That payload leaves out what the record header (offset, created_at) and the
// stream's directory (stream_id) already hold, about a quarter of a small
// event's bytes; readers put them back (EventJsonRenderer).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "formats/timestamp.h"
#include "formats/uuid.h"

namespace eventflow {

struct EventDraft {
  Uuid event_id;
  // The client sent no id: the stream's writer assigns one (a version-7 id,
  // the request's ids following each other; see Uuid::Successor) and skips
  // the duplicate checks, since nobody else can know it yet. event_id is
  // not read before that.
  bool id_assigned_by_server = false;
  bool has_key = false;
  std::string key;  // the partition/compaction key, raw (unescaped) text
  // JSON members after "offset", each preceded by a comma, e.g.
  // `,"key":"org-42","payload":{...},"metadata":{...}`; "created_at" follows.
  std::string members;

  // Bytes this draft takes at most when rendered whole for a stream.
  size_t RenderedSize() const;
  // Bytes its compact record payload takes (RenderCompactEvent).
  size_t CompactSize() const;
};

// Renders the record payload `{"event_id":"..."<members>}` into `dst` (which
// holds draft.CompactSize() bytes); returns the bytes written. Stored with
// record::kCompactEvent.
size_t RenderCompactEvent(const EventDraft& draft, char* dst);

// Renders `{"event_id":..,"stream_id":..,"offset":N<members>,"created_at":".."}`
// into `dst` (which holds at least draft.RenderedSize() bytes); returns the
// bytes written.
size_t RenderStoredEvent(const EventDraft& draft, const Uuid& stream_id, uint64_t offset,
                         int64_t created_at_ms, char* dst);
std::string RenderStoredEvent(const EventDraft& draft, const Uuid& stream_id, uint64_t offset,
                              int64_t created_at_ms);

// Turns the record payloads of one stream back into the event JSON that
// RenderStoredEvent would have written (byte for byte). Keeps the stream id's
// text and the last timestamp's between calls: a poll renders thousands.
class EventJsonRenderer {
 public:
  explicit EventJsonRenderer(const Uuid& stream_id);
  // Appends the event JSON of a record payload to `out`. `compact`: the
  // record carries record::kCompactEvent; without it the payload is already
  // whole. A compact payload that is not shaped as RenderCompactEvent writes
  // them (possible only from another writer, since its CRC matched) is
  // appended as it is.
  void AppendTo(std::string_view payload, bool compact, uint64_t offset, int64_t created_at_ms,
                std::string* out);
  // The event JSON: `payload` itself when it is whole, else rendered into a
  // buffer that stays valid until the next call.
  std::string_view Render(std::string_view payload, bool compact, uint64_t offset,
                          int64_t created_at_ms);

 private:
  char stream_id_[36];
  int64_t formatted_ms_;
  char formatted_[timestamp::kFormattedSize];
  std::string scratch_;
};

// Reads the event id a rendered event starts with (fast path for index
// rebuild and verification); nullopt if `json` does not start as rendered.
std::optional<Uuid> PeekEventId(std::string_view json);

// The compaction key of a rendered event, as it appears in the JSON (still
// escaped: one key text always renders to the same bytes), of a whole event
// or (`compact`) a compact record payload. `rendered` is false when `json`
// does not start as RenderStoredEvent or RenderCompactEvent writes it.
struct PeekedKey {
  bool rendered = false;
  std::optional<std::string_view> escaped_key;  // nullopt: the event has no key
};
PeekedKey PeekEventKey(std::string_view json, bool compact = false);

}  // namespace eventflow
