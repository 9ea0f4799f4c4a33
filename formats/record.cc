#include "formats/record.h"

#include <cstring>

#include "formats/crc32c.h"
#include "formats/endian.h"

namespace eventflow::record {

size_t EncodeTo(const Header& header, std::string_view payload, char* dst) {
  if (!payload.empty()) std::memcpy(dst + kHeaderSize, payload.data(), payload.size());
  Header h = header;
  h.length = static_cast<uint32_t>(payload.size());
  return EncodeInPlace(h, dst);
}

size_t EncodeInPlace(const Header& header, char* dst) {
  const size_t length = header.length;
  const size_t total = EncodedSize(length);
  EncodeFixed32(dst + kMagicPos, kMagic);
  dst[kVersionPos] = static_cast<char>(kFormatVersion);
  dst[kTypePos] = static_cast<char>(header.type);
  EncodeFixed16(dst + kFlagsPos, header.flags);
  EncodeFixed32(dst + kLengthPos, header.length);
  EncodeFixed32(dst + kSyncedBackPos,
                (header.flags & (kSyncedBefore | kSegmentEnd)) != 0 ? header.synced_back : 0);
  EncodeFixed64(dst + kOffsetPos, header.offset);
  EncodeFixed64(dst + kTimestampPos, static_cast<uint64_t>(header.timestamp_ms));
  std::memset(dst + kHeaderSize + length, 0, total - kHeaderSize - length);
  const uint32_t header_crc = crc32c::Value(dst + kMagicPos, kHeaderSize - kMagicPos);
  EncodeFixed32(dst + kHeaderCrcPos, header_crc);
  const uint32_t record_crc =
      crc32c::Value(dst + kHeaderCrcPos, kHeaderSize - kHeaderCrcPos + length);
  EncodeFixed32(dst + kRecordCrcPos, record_crc);
  return total;
}

void AppendTo(const Header& header, std::string_view payload, std::string* out) {
  const size_t at = out->size();
  out->resize(at + EncodedSize(payload.size()));
  EncodeTo(header, payload, out->data() + at);
}

HeaderCheck DecodeHeader(const char* src, Header* header) {
  static constexpr char kZeros[kHeaderSize] = {};
  if (std::memcmp(src, kZeros, kHeaderSize) == 0) return HeaderCheck::kZero;
  if (DecodeFixed32(src + kMagicPos) != kMagic) return HeaderCheck::kBadHeader;
  if (DecodeFixed32(src + kHeaderCrcPos) !=
      crc32c::Value(src + kMagicPos, kHeaderSize - kMagicPos)) {
    return HeaderCheck::kBadHeader;
  }
  // The header CRC matched, so these fields are what the writer wrote; a
  // value we do not understand means a newer or foreign format.
  const auto version = static_cast<uint8_t>(src[kVersionPos]);
  const auto type = static_cast<uint8_t>(src[kTypePos]);
  const uint16_t flags = DecodeFixed16(src + kFlagsPos);
  const uint32_t length = DecodeFixed32(src + kLengthPos);
  const uint32_t synced_back = DecodeFixed32(src + kSyncedBackPos);
  const uint16_t known = version == 1 ? kKnownFlagsV1 : kKnownFlags;
  if (version < kOldestReadableVersion || version > kFormatVersion ||
      type != static_cast<uint8_t>(RecordType::kEvent) || (flags & ~known) != 0 ||
      length > kMaxPayloadBytes ||
      ((flags & (kSyncedBefore | kSegmentEnd)) == 0 && synced_back != 0) ||
      ((flags & kSyncedBefore) != 0 && (flags & kSegmentEnd) != 0)) {
    return HeaderCheck::kBadHeader;
  }
  header->type = static_cast<RecordType>(type);
  header->flags = flags;
  header->length = length;
  header->synced_back = synced_back;
  header->offset = DecodeFixed64(src + kOffsetPos);
  header->timestamp_ms = static_cast<int64_t>(DecodeFixed64(src + kTimestampPos));
  return HeaderCheck::kOk;
}

bool VerifyRecordCrc(const char* src, const Header& header) {
  const uint32_t expected = DecodeFixed32(src + kRecordCrcPos);
  return expected ==
         crc32c::Value(src + kHeaderCrcPos, kHeaderSize - kHeaderCrcPos + header.length);
}

Status Decode(const char* src, size_t avail, Header* header, std::string_view* payload) {
  if (avail < kHeaderSize) return Status::Corruption("record header cut short");
  switch (DecodeHeader(src, header)) {
    case HeaderCheck::kZero:
      return Status::NotFound("zeroed space");
    case HeaderCheck::kBadHeader:
      return Status::Corruption("bad record header");
    case HeaderCheck::kOk:
      break;
  }
  if (EncodedSize(header->length) > avail) return Status::Corruption("record runs past the end");
  if (!VerifyRecordCrc(src, *header)) return Status::Corruption("record checksum mismatch");
  *payload = std::string_view(src + kHeaderSize, header->length);
  return Status::Ok();
}

}  // namespace eventflow::record
