// The segment record format (docs/segment-format.md is the specification):
// a 40-byte little-endian header, the stored event bytes, zero padding to a
// multiple of 8. One Encode/Decode pair over these constants.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "formats/status.h"

namespace eventflow::record {

inline constexpr uint32_t kMagic = 0x31524645;  // bytes "EFR1" on disk
// Version 2 adds kSyncedBefore (section 4 of docs/segment-format.md); the
// writer writes 2, readers accept 1 (logs written before it) and 2.
inline constexpr uint8_t kFormatVersion = 2;
inline constexpr uint8_t kOldestReadableVersion = 1;
inline constexpr size_t kHeaderSize = 40;
inline constexpr size_t kAlignment = 8;
// Largest payload a record may carry; larger lengths are corruption.
inline constexpr uint32_t kMaxPayloadBytes = 64u << 20;

// Byte positions of the header fields.
inline constexpr size_t kRecordCrcPos = 0;    // u32 CRC32C of bytes [4, 40 + length)
inline constexpr size_t kHeaderCrcPos = 4;    // u32 CRC32C of bytes [8, 40)
inline constexpr size_t kMagicPos = 8;        // u32 kMagic
inline constexpr size_t kVersionPos = 12;     // u8  kFormatVersion
inline constexpr size_t kTypePos = 13;        // u8  RecordType
inline constexpr size_t kFlagsPos = 14;       // u16 RecordFlags
inline constexpr size_t kLengthPos = 16;      // u32 payload length
inline constexpr size_t kSyncedBackPos = 20;  // u32 synced distance (kSyncedBefore), else 0
inline constexpr size_t kOffsetPos = 24;      // u64 log offset
inline constexpr size_t kTimestampPos = 32;   // i64 created_at, ms since the Unix epoch

// 0 is reserved: preallocated, never-written space reads as zeros.
enum class RecordType : uint8_t {
  kZero = 0,
  kEvent = 1,
};

// A batch of records is atomic: the first carries kBatchBegin, the last
// kBatchEnd, a single-record append carries both.
// kCompactEvent: the payload is an event without the fields the header and
// the stream's directory already hold (stored_event.h, AppendEventJson);
// without it the payload is the whole event JSON, as written before.
// kSyncedBefore (version 2): the header's u32 at kSyncedBackPos is a distance
// back from the record's offset; every offset below offset - distance was
// covered by a completed fdatasync when the record was encoded. Recovery
// uses it to tell a torn write from damage to durable bytes.
// kSegmentEnd (version 2): the last record of a rewritten segment file
// (compaction, relocation, repair); the same u32 is a distance forward to
// the end of the offsets the segment covered before the rewrite (the next
// segment's base), so that recovery does not read the records the rewrite
// left out as lost. Never together with kSyncedBefore.
enum RecordFlags : uint16_t {
  kBatchBegin = 1u << 0,
  kBatchEnd = 1u << 1,
  kCompactEvent = 1u << 2,
  kSyncedBefore = 1u << 3,
  kSegmentEnd = 1u << 4,
};
inline constexpr uint16_t kKnownFlagsV1 = kBatchBegin | kBatchEnd | kCompactEvent;
inline constexpr uint16_t kKnownFlags = kKnownFlagsV1 | kSyncedBefore | kSegmentEnd;

struct Header {
  RecordType type = RecordType::kEvent;
  uint16_t flags = kBatchBegin | kBatchEnd;
  uint32_t length = 0;
  uint32_t synced_back = 0;  // meaningful with kSyncedBefore or kSegmentEnd, else 0
  uint64_t offset = 0;
  int64_t timestamp_ms = 0;

  // Every offset below this was durable when the record was encoded, if
  // the record says so.
  std::optional<uint64_t> synced_before() const {
    if ((flags & kSyncedBefore) == 0) return std::nullopt;
    return offset >= synced_back ? offset - synced_back : 0;
  }
  // Marks the record with `durable_next` (every offset below it durable),
  // as a saturating distance back: a distance too large to store claims less.
  void set_synced_before(uint64_t durable_next) {
    flags |= kSyncedBefore;
    const uint64_t back = offset > durable_next ? offset - durable_next : 0;
    synced_back = back > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(back);
  }
  // One past the offsets the rewritten segment covered, if the record says.
  std::optional<uint64_t> segment_end() const {
    if ((flags & kSegmentEnd) == 0) return std::nullopt;
    return offset + synced_back;
  }
  // Marks the record as its rewritten segment's last, covering offsets up
  // to `end` (exclusive); nothing if `end` is not past it or too far.
  void set_segment_end(uint64_t end) {
    if (end <= offset || end - offset > UINT32_MAX || (flags & kSyncedBefore) != 0) return;
    flags |= kSegmentEnd;
    synced_back = static_cast<uint32_t>(end - offset);
  }
};

// Bytes a record with `payload_len` payload bytes takes, padding included.
constexpr size_t EncodedSize(size_t payload_len) {
  return (kHeaderSize + payload_len + kAlignment - 1) & ~(kAlignment - 1);
}

// Writes header + payload + padding into `dst` (header.length is taken from
// the payload), which must hold
// EncodedSize(payload.size()) bytes. Returns the bytes written.
size_t EncodeTo(const Header& header, std::string_view payload, char* dst);
// Like EncodeTo, for a payload already placed at dst + kHeaderSize (so the
// writer can render events straight into its buffer).
size_t EncodeInPlace(const Header& header, char* dst);
// Appends the encoded record to `out`.
void AppendTo(const Header& header, std::string_view payload, std::string* out);

enum class HeaderCheck {
  kOk,
  kZero,       // all 40 bytes are zero: never-written space
  kBadHeader,  // magic, header CRC, version, type, flags, length or synced distance wrong
};

// Checks the 40 header bytes at `src` and fills `*header`. The length is only
// trusted after this returns kOk.
HeaderCheck DecodeHeader(const char* src, Header* header);

// Checks the whole-record CRC of a record whose header decoded kOk; `src`
// must hold EncodedSize(header.length) bytes.
bool VerifyRecordCrc(const char* src, const Header& header);

// Decodes and fully verifies the record at `src` of `avail` bytes. On success
// `*payload` points into `src`. Corruption for any failed check; NotFound for
// zeroed space.
Status Decode(const char* src, size_t avail, Header* header, std::string_view* payload);

}  // namespace eventflow::record
