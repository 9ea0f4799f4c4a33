// libFuzzer target: the segment record decoder and scan (formats/record.h,
// engine/segment_scan.h) over arbitrary bytes, as recovery and `segments
// verify` meet them on a damaged disk. The first byte picks the scan's
// options (CRC checks off lets the fuzzer reach the framing past them).
#include <cstdint>
#include <string>

#include "engine/segment_scan.h"
#include "formats/record.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace eventflow;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  // A copy of exactly the bytes, so reads past them are caught.
  const std::string bytes(reinterpret_cast<const char*>(data + 1), size - 1);
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
