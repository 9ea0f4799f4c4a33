// libFuzzer target: the segment record decoder and scan (formats/record.h,
// engine/segment_scan.h) over arbitrary bytes, as recovery and `segments
// verify` meet them on a damaged disk. The first byte picks the scan's
// options and, with bit 4, has the harness make every record it can frame
// carry correct CRCs first: recovery always checks CRCs, and a mutation
// rarely keeps them right, so this is how the fuzzer reaches the batch and
// offset rules behind them.
#include <cstdint>
#include <string>

#include "engine/segment_scan.h"
#include "formats/crc32c.h"
#include "formats/endian.h"
#include "formats/record.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

// Walks the records from the start as a writer lays them out (each at the
// 8-byte aligned end of the one before) and writes both CRCs of each record
// whose length fits, as the writer would have.
void FixCrcs(std::string* bytes) {
  using namespace eventflow;
  size_t pos = 0;
  while (pos + record::kHeaderSize <= bytes->size()) {
    char* at = bytes->data() + pos;
    const uint32_t length = DecodeFixed32(at + record::kLengthPos);
    if (length > bytes->size() - pos - record::kHeaderSize) break;
    EncodeFixed32(at + record::kHeaderCrcPos,
                  crc32c::Value(at + record::kMagicPos, record::kHeaderSize - record::kMagicPos));
    EncodeFixed32(at + record::kRecordCrcPos,
                  crc32c::Value(at + record::kHeaderCrcPos,
                                record::kHeaderSize - record::kHeaderCrcPos + length));
    pos += record::EncodedSize(length);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace eventflow;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  // A copy of exactly the bytes, so reads past them are caught.
  std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode & 16) FixCrcs(&bytes);
  ScanOptions options;
  options.verify_crc = (mode & 1) == 0;
  options.classify_tail = (mode & 2) == 0;
  options.min_offset = (mode & 4) ? 100 : 0;
  if (mode & 8) options.synced_floor = 3;
  uint64_t last_end = 0;
  const ScanResult result =
      ScanSegment(bytes.data(), bytes.size(), options, [&](const ScannedRecord& r) {
        if (r.pos < last_end) fuzz::Fail("records out of order", bytes);
        last_end = r.pos;
      });
  if (result.valid_end > bytes.size()) fuzz::Fail("valid_end past the bytes", bytes);
  for (uint64_t pos = 0; pos + record::kHeaderSize <= bytes.size() && pos < 4096; pos += 8) {
    record::Header header;
    std::string_view payload;
    if (record::Decode(bytes.data() + pos, bytes.size() - pos, &header, &payload).ok()) {
      if (payload.data() + payload.size() > bytes.data() + bytes.size()) {
        fuzz::Fail("a payload past the bytes", bytes);
      }
    }
    (void)ValidRecordAt(bytes.data(), bytes.size(), pos);
  }
  return 0;
}
