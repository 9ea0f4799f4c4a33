#include "formats/crc32c.h"

#include <isa-l/crc.h>

namespace eventflow::crc32c {

// crc32_iscsi takes and returns the register without the final inversion
// that the standard CRC32C applies; the xors below translate both ways.
uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  auto* bytes = static_cast<unsigned char*>(const_cast<void*>(data));
  uint32_t reg = crc ^ 0xffffffffu;
  reg = crc32_iscsi(bytes, static_cast<int>(n), reg);
  return reg ^ 0xffffffffu;
}

}  // namespace eventflow::crc32c
