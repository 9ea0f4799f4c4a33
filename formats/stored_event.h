// The stored event JSON, as consumers and `?raw=true` see it. The HTTP layer
// builds everything but the offset and created_at (an EventDraft); the stream
// writer, which assigns both, renders the record payload from it without
// re-serialising the payload.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

  // Bytes this draft takes when rendered for a stream.
  size_t RenderedSize() const;
};

// Renders `{"event_id":..,"stream_id":..,"offset":N<members>,"created_at":".."}`
// into `dst` (which holds at least draft.RenderedSize() bytes); returns the
// bytes written.
size_t RenderStoredEvent(const EventDraft& draft, const Uuid& stream_id, uint64_t offset,
                         int64_t created_at_ms, char* dst);
std::string RenderStoredEvent(const EventDraft& draft, const Uuid& stream_id, uint64_t offset,
                              int64_t created_at_ms);

// Reads the event id a rendered event starts with (fast path for index
// rebuild and verification); nullopt if `json` does not start as rendered.
std::optional<Uuid> PeekEventId(std::string_view json);

// The compaction key of a rendered event, as it appears in the JSON (still
// escaped: one key text always renders to the same bytes). `rendered` is
// false when `json` does not start as RenderStoredEvent writes it.
struct PeekedKey {
  bool rendered = false;
  std::optional<std::string_view> escaped_key;  // nullopt: the event has no key
};
PeekedKey PeekEventKey(std::string_view json);

}  // namespace eventflow
