// Record codec: golden bytes, round trip, every single-byte flip detected;
// CRC32C known answers from RFC 3720 B.4.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "formats/crc32c.h"
#include "formats/json_writer.h"
#include "formats/record.h"
#include "formats/segment_name.h"
#include "formats/stored_event.h"
#include "formats/timestamp.h"

namespace eventflow {
namespace {

TEST(Crc32c, Rfc3720KnownAnswers) {
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c::Value(zeros), 0x8a9136aau);
  std::string ones(32, '\xff');
  EXPECT_EQ(crc32c::Value(ones), 0x62a8ab43u);
  std::string inc(32, '\0'), dec(32, '\0');
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<char>(i);
    dec[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(crc32c::Value(inc), 0x46dd794eu);
  EXPECT_EQ(crc32c::Value(dec), 0x113fdb5cu);
  EXPECT_EQ(crc32c::Value("123456789"), 0xe3069283u);
}

TEST(Crc32c, ExtendEqualsWhole) {
  const std::string s = "hello, segment world";
  EXPECT_EQ(crc32c::Extend(crc32c::Value(s.substr(0, 7)), s.data() + 7, s.size() - 7),
            crc32c::Value(s));
}

uint32_t DecodeCrc(const std::string& s, size_t pos) {
  uint32_t v;
  std::memcpy(&v, s.data() + pos, 4);
  return v;
}

record::Header SampleHeader() {
  record::Header h;
  h.flags = record::kBatchBegin | record::kBatchEnd;
  h.offset = 17;
  h.timestamp_ms = 1795000000123;
  return h;
}

TEST(Record, GoldenBytes) {
  std::string out;
  record::AppendTo(SampleHeader(), "{\"a\":1}", &out);
  ASSERT_EQ(out.size(), 48u);  // 40 header + 7 payload + 1 pad
  // Fixed fields at their documented positions (docs/segment-format.md).
  const std::string expected_fixed =
      std::string("EFR1", 4) + std::string("\x02\x01\x03\x00", 4) +  // version, type, flags
      std::string("\x07\x00\x00\x00", 4) + std::string(4, '\0') +    // length, reserved
      std::string("\x11\0\0\0\0\0\0\0", 8) +                         // offset 17
      std::string("\x7b\x5e\x56\xee\xa1\x01\x00\x00", 8);            // 1795000000123 ms
  EXPECT_EQ(out.substr(8, 32), expected_fixed);
  EXPECT_EQ(out.substr(40, 7), "{\"a\":1}");
  EXPECT_EQ(out[47], '\0');
  // The two CRCs cover exactly what the format says.
  EXPECT_EQ(DecodeCrc(out, 4), crc32c::Value(out.data() + 8, 32));
  EXPECT_EQ(DecodeCrc(out, 0), crc32c::Value(out.data() + 4, 36 + 7));
}

// The worked example of docs/segment-format.md section 7: a compact event
// as the writer stores it.
TEST(Record, CompactEventGoldenCrcs) {
  EventDraft d;
  d.event_id = *Uuid::Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
  d.members = ",\"payload\":{\"a\":1}";
  std::string out(record::EncodedSize(d.CompactSize()), '\0');
  record::Header h = SampleHeader();
  h.flags |= record::kCompactEvent;
  h.length = static_cast<uint32_t>(RenderCompactEvent(d, out.data() + record::kHeaderSize));
  ASSERT_EQ(h.length, 69u);
  h.set_synced_before(17);  // everything before it was durable
  ASSERT_EQ(record::EncodeInPlace(h, out.data()), 112u);
  EXPECT_EQ(DecodeCrc(out, 4), 0xE31992EAu);
  EXPECT_EQ(DecodeCrc(out, 0), 0x8223DC14u);
  record::Header back;
  std::string_view payload;
  ASSERT_TRUE(record::Decode(out.data(), out.size(), &back, &payload).ok());
  EXPECT_EQ(back.flags, 0x000f);
  EXPECT_EQ(back.synced_before(), 17u);
  // A flag bit the format does not define makes the header bad, even under
  // a header CRC that matches.
  out[record::kFlagsPos] = 0x1f;
  const uint32_t header_crc = crc32c::Value(out.data() + 8, 32);
  std::memcpy(out.data() + record::kHeaderCrcPos, &header_crc, 4);  // little-endian host
  record::Header unknown;
  EXPECT_EQ(record::DecodeHeader(out.data(), &unknown), record::HeaderCheck::kBadHeader);
}

// Bytes a version-1 writer (ae72254) wrote: docs/segment-format.md
// section 7 before the synced-before mark. They stay readable.
TEST(Record, Version1RecordsStillDecode) {
  const unsigned char v1[48] = {0x67, 0x89, 0x19, 0x04, 0x11, 0x30, 0xee, 0xb2, 0x45, 0x46,
                                0x52, 0x31, 0x01, 0x01, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00,
                                0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00,
                                0x00, 0x00, 0x7b, 0x5e, 0x56, 0xee, 0xa1, 0x01, 0x00, 0x00,
                                0x7b, 0x22, 0x61, 0x22, 0x3a, 0x31, 0x7d, 0x00};
  std::string bytes(reinterpret_cast<const char*>(v1), sizeof v1);
  record::Header h;
  std::string_view payload;
  ASSERT_TRUE(record::Decode(bytes.data(), bytes.size(), &h, &payload).ok());
  EXPECT_EQ(payload, "{\"a\":1}");
  EXPECT_EQ(h.offset, 17u);
  EXPECT_EQ(h.synced_before(), std::nullopt);
  // Version 1 had no synced-before flag: with it (CRCs made good) the
  // header is bad, as is any version this reader does not know.
  auto reseal = [](std::string b) {
    const uint32_t header_crc = crc32c::Value(b.data() + 8, 32);
    std::memcpy(b.data() + record::kHeaderCrcPos, &header_crc, 4);
    return b;
  };
  std::string flagged = bytes;
  flagged[record::kFlagsPos] = 0x0b;
  EXPECT_EQ(record::DecodeHeader(reseal(flagged).data(), &h), record::HeaderCheck::kBadHeader);
  std::string v3 = bytes;
  v3[record::kVersionPos] = 3;
  EXPECT_EQ(record::DecodeHeader(reseal(v3).data(), &h), record::HeaderCheck::kBadHeader);
  std::string v0 = bytes;
  v0[record::kVersionPos] = 0;
  EXPECT_EQ(record::DecodeHeader(reseal(v0).data(), &h), record::HeaderCheck::kBadHeader);
}

TEST(Record, SyncedBeforeIsADistanceBackThatSaturates) {
  record::Header h = SampleHeader();
  h.offset = 1000;
  h.set_synced_before(990);
  std::string out;
  record::AppendTo(h, "x", &out);
  uint32_t back;
  std::memcpy(&back, out.data() + record::kSyncedBackPos, 4);
  EXPECT_EQ(back, 10u);
  record::Header got;
  std::string_view payload;
  ASSERT_TRUE(record::Decode(out.data(), out.size(), &got, &payload).ok());
  EXPECT_EQ(got.synced_before(), 990u);
  // Too far back to store: the mark claims less, never more.
  record::Header far = SampleHeader();
  far.offset = uint64_t{1} << 40;
  far.set_synced_before(5);
  EXPECT_EQ(far.synced_back, UINT32_MAX);
  EXPECT_EQ(far.synced_before(), (uint64_t{1} << 40) - UINT32_MAX);
  // A distance without the flag is a bad header.
  std::string unflagged;
  record::Header plain = SampleHeader();
  record::AppendTo(plain, "x", &unflagged);
  const uint32_t distance = 3;
  std::memcpy(unflagged.data() + record::kSyncedBackPos, &distance, 4);
  const uint32_t header_crc = crc32c::Value(unflagged.data() + 8, 32);
  std::memcpy(unflagged.data() + record::kHeaderCrcPos, &header_crc, 4);
  EXPECT_EQ(record::DecodeHeader(unflagged.data(), &got), record::HeaderCheck::kBadHeader);
}

TEST(Record, SegmentEndIsADistanceForwardAndNeverBesideASyncedMark) {
  record::Header h = SampleHeader();
  h.offset = 53;
  h.set_segment_end(55);
  std::string out;
  record::AppendTo(h, "x", &out);
  uint32_t forward;
  std::memcpy(&forward, out.data() + record::kSyncedBackPos, 4);
  EXPECT_EQ(forward, 2u);
  record::Header got;
  std::string_view payload;
  ASSERT_TRUE(record::Decode(out.data(), out.size(), &got, &payload).ok());
  EXPECT_EQ(got.segment_end(), 55u);
  EXPECT_FALSE(got.synced_before());
  // Not past the record: nothing is marked.
  record::Header same = SampleHeader();
  same.offset = 9;
  same.set_segment_end(9);
  EXPECT_FALSE(same.segment_end());
  // Both marks share the u32: a header carrying both flags is bad.
  record::Header both = SampleHeader();
  both.offset = 100;
  both.set_synced_before(90);
  both.flags |= record::kSegmentEnd;
  std::string bad;
  record::AppendTo(both, "x", &bad);
  EXPECT_EQ(record::DecodeHeader(bad.data(), &got), record::HeaderCheck::kBadHeader);
}

TEST(Record, RoundTrip) {
  std::string out;
  record::AppendTo(SampleHeader(), "payload bytes", &out);
  record::Header h;
  std::string_view payload;
  ASSERT_TRUE(record::Decode(out.data(), out.size(), &h, &payload).ok());
  EXPECT_EQ(payload, "payload bytes");
  EXPECT_EQ(h.offset, 17u);
  EXPECT_EQ(h.timestamp_ms, 1795000000123);
  EXPECT_EQ(h.flags, record::kBatchBegin | record::kBatchEnd);
}

TEST(Record, EverySingleByteFlipIsDetected) {
  const std::string payload = "{\"taskId\":\"t-1\",\"title\":\"Write docs\"}";
  std::string good;
  record::AppendTo(SampleHeader(), payload, &good);
  // Every byte the CRCs cover (the zero padding after the payload is not).
  const size_t payload_end = record::kHeaderSize + payload.size();
  for (size_t i = 0; i < payload_end; ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      record::Header h;
      std::string_view got;
      EXPECT_FALSE(record::Decode(bad.data(), bad.size(), &h, &got).ok())
          << "flip of bit " << bit << " at byte " << i << " went unnoticed";
    }
  }
}

TEST(Record, ZeroedSpaceIsNotARecord) {
  std::string zeros(64, '\0');
  record::Header h;
  std::string_view payload;
  EXPECT_TRUE(record::Decode(zeros.data(), zeros.size(), &h, &payload).IsNotFound());
}

TEST(SegmentName, MakeAndParse) {
  EXPECT_EQ(segment_name::Make(42), "00000000000000000042.seg");
  EXPECT_EQ(segment_name::Parse("00000000000000000042.seg"), 42u);
  EXPECT_EQ(segment_name::Parse("00000000000000000042.seg.quarantined"), std::nullopt);
  EXPECT_EQ(segment_name::Parse("0000000000000000004x.seg"), std::nullopt);
  EXPECT_EQ(segment_name::Parse("99999999999999999999.seg"), std::nullopt);  // > 2^64
}

TEST(Timestamp, FormatAndParse) {
  EXPECT_EQ(timestamp::Format(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(timestamp::Format(1795000000123), "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(timestamp::Parse("2026-11-18T11:06:40.123Z"), 1795000000123);
  EXPECT_EQ(timestamp::Parse("2026-11-18T12:06:40.123+01:00"), 1795000000123);
  EXPECT_EQ(timestamp::Parse("2026-11-18T11:06:40Z"), 1795000000000);
  EXPECT_EQ(timestamp::Parse("2026-13-18T11:06:40Z"), std::nullopt);
  EXPECT_EQ(timestamp::Parse("yesterday"), std::nullopt);
}

TEST(Timestamp, YearZeroWithAnOffsetBecameYear7295) {
  // 00:30 at +01:00 on the first day of year 0 is an instant of year -1,
  // which four digits cannot show (it was formatted as 7295-...).
  EXPECT_EQ(timestamp::Parse("0000-01-01T00:30:00+01:00"), std::nullopt);
  EXPECT_EQ(timestamp::Parse("9999-12-31T23:30:00-01:00"), std::nullopt);
  EXPECT_EQ(timestamp::Parse("0000-01-01T00:00:00Z"), timestamp::kMinMs);
  EXPECT_EQ(timestamp::Parse("0000-01-01T01:00:00+01:00"), timestamp::kMinMs);
  EXPECT_EQ(timestamp::Parse("9999-12-31T23:59:59.999Z"), timestamp::kMaxMs);
  EXPECT_EQ(timestamp::Format(timestamp::kMinMs), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(timestamp::Format(timestamp::kMaxMs), "9999-12-31T23:59:59.999Z");
  // Out of range is written as the nearer end, never as a wrapped year.
  EXPECT_EQ(timestamp::Format(timestamp::kMinMs - 1), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(timestamp::Format(INT64_MAX), "9999-12-31T23:59:59.999Z");
}

TEST(JsonUntrustedString, InvalidUtf8AndControlsNeverPassRaw) {
  auto quote = [](std::string_view s) {
    std::string out;
    json::AppendUntrustedString(&out, s);
    return out;
  };
  EXPECT_EQ(quote("plain é ✓ 😀"), "\"plain é ✓ 😀\"");
  EXPECT_EQ(quote("a\nb\r\tc\"\\"), R"("a\nb\r\tc\"\\")");
  EXPECT_EQ(quote("\x1b[31mred"), R"("\u001b[31mred")");  // ESC
  EXPECT_EQ(quote("\x7f"), R"("\u007f")");                // DEL
  EXPECT_EQ(quote("\xc2\x9b"
                  "2J"),
            R"("\u009b2J")");  // C1 CSI
  EXPECT_EQ(quote("\xff\xfe"), R"("\ufffd\ufffd")");
  EXPECT_EQ(quote("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(quote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // a surrogate
  EXPECT_EQ(quote("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // past U+10FFFF
  EXPECT_EQ(quote("ok\xe2\x9c"), R"("ok\ufffd\ufffd")");                  // cut short
  EXPECT_TRUE(json::IsPlainToken("route=x") == false);
  EXPECT_TRUE(json::IsPlainToken("abc-123_/.:"));
  EXPECT_FALSE(json::IsPlainToken("a b"));
  EXPECT_FALSE(json::IsPlainToken("a\nb"));
  EXPECT_FALSE(json::IsPlainToken("\x1b"));
  EXPECT_FALSE(json::IsPlainToken("é"));
  EXPECT_FALSE(json::IsPlainToken(""));
}

TEST(StoredEvent, RendersAndPeeks) {
  EventDraft d;
  d.event_id = *Uuid::Parse("0F8FAD5B-D9CB-469F-A165-70867728950E");
  d.members = ",\"payload\":{\"a\":1}";
  const Uuid stream = *Uuid::Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7");
  EXPECT_EQ(RenderStoredEvent(d, stream, 17, 0),
            "{\"event_id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\","
            "\"stream_id\":\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"offset\":17,"
            "\"payload\":{\"a\":1},\"created_at\":\"1970-01-01T00:00:00.000Z\"}");
  EXPECT_EQ(PeekEventId(RenderStoredEvent(d, stream, 1, 0)), d.event_id);
}

// A record stores the compact form; readers turn it back into the very bytes
// the whole event renders to.
TEST(StoredEvent, CompactFormRendersBackToTheWholeEvent) {
  EventDraft d;
  d.event_id = *Uuid::Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
  d.has_key = true;
  d.key = "k\"1";
  d.members = ",\"key\":\"k\\\"1\",\"payload\":{\"a\":[1,\"}\"]},\"metadata\":{}";
  const Uuid stream = *Uuid::Parse("7c9e6679-7425-40de-944b-e07fc1f90ae7");
  std::string compact(d.CompactSize(), '\0');
  compact.resize(RenderCompactEvent(d, compact.data()));
  EXPECT_EQ(compact,
            "{\"event_id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"key\":\"k\\\"1\","
            "\"payload\":{\"a\":[1,\"}\"]},\"metadata\":{}}");
  EXPECT_EQ(compact.size(), d.CompactSize());
  EXPECT_LT(compact.size() + 100, RenderStoredEvent(d, stream, 123456, 0).size());

  EventJsonRenderer renderer(stream);
  std::string out = "[";
  for (const auto& [offset, ts] : {std::pair<uint64_t, int64_t>{0, 1795000000123},
                                   {1, 1795000000123},
                                   {18446744073709551615u, 1795000000124}}) {
    const std::string whole = RenderStoredEvent(d, stream, offset, ts);
    EXPECT_EQ(renderer.Render(compact, true, offset, ts), whole);
    // An uncompacted payload (records written before the compact form) is
    // already whole and comes back as it is.
    EXPECT_EQ(renderer.Render(whole, false, offset + 1, ts + 1), whole);
    const size_t at = out.size();
    renderer.AppendTo(compact, true, offset, ts, &out);
    EXPECT_EQ(out.substr(at), whole);
  }
  EXPECT_EQ(PeekEventId(compact), d.event_id);
  const PeekedKey key = PeekEventKey(compact, /*compact=*/true);
  EXPECT_TRUE(key.rendered);
  EXPECT_EQ(key.escaped_key, "k\\\"1");
  EXPECT_EQ(PeekEventKey(RenderStoredEvent(d, stream, 5, 0)).escaped_key, "k\\\"1");
  // A compact payload without a key, and one not shaped as the writer makes
  // them (it is passed through rather than spliced at the wrong place).
  EXPECT_EQ(
      PeekEventKey("{\"event_id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"payload\":1}", true)
          .escaped_key,
      std::nullopt);
  EXPECT_EQ(renderer.Render("{\"x\":1}", true, 3, 0), "{\"x\":1}");
  EXPECT_EQ(renderer.Render("", true, 3, 0), "");
}

}  // namespace
}  // namespace eventflow
