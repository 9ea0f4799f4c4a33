// CRC32C (Castagnoli), the checksum of every segment record. Backed by
// ISA-L's crc32_iscsi, which uses the SSE4.2 / PCLMUL instructions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace eventflow::crc32c {

// Continues a CRC32C: Extend(Value(a), b) == Value(a + b).
uint32_t Extend(uint32_t crc, const void* data, size_t n);

// The standard CRC32C of `n` bytes (RFC 3720 B.4: 32 zero bytes -> 0x8a9136aa).
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Value(s.data(), s.size()); }

}  // namespace eventflow::crc32c
