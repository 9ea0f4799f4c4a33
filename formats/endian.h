// Little-endian fixed-width encoding of integers into byte buffers, as every
// on-disk format of EventFlow uses.
#pragma once

#include <cstdint>
#include <cstring>

namespace eventflow {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "EventFlow assumes a little-endian host");

inline void EncodeFixed16(char* dst, uint16_t v) { std::memcpy(dst, &v, sizeof v); }
inline void EncodeFixed32(char* dst, uint32_t v) { std::memcpy(dst, &v, sizeof v); }
inline void EncodeFixed64(char* dst, uint64_t v) { std::memcpy(dst, &v, sizeof v); }
inline uint16_t DecodeFixed16(const char* src) {
  uint16_t v;
  std::memcpy(&v, src, sizeof v);
  return v;
}
inline uint32_t DecodeFixed32(const char* src) {
  uint32_t v;
  std::memcpy(&v, src, sizeof v);
  return v;
}
inline uint64_t DecodeFixed64(const char* src) {
  uint64_t v;
  std::memcpy(&v, src, sizeof v);
  return v;
}
// Big-endian, for RocksDB keys whose byte order must follow numeric order.
inline void EncodeBigEndian64(char* dst, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(dst, &v, sizeof v);
}
inline uint64_t DecodeBigEndian64(const char* src) {
  uint64_t v;
  std::memcpy(&v, src, sizeof v);
  return __builtin_bswap64(v);
}

}  // namespace eventflow
