#include "formats/uuid.h"

#include <xxhash.h>

#include <openssl/rand.h>
#include <sys/random.h>

#include <array>
#include <chrono>
#include <cstring>

#include "formats/json_writer.h"
#include "formats/random.h"

namespace eventflow {

namespace {
// Ids are seen by other tenants, so their random bits must not tell what
// comes next: a seeded mt19937_64 is predictable from 312 of its outputs
// (tests/formats/uuid_test.cc shows it), OpenSSL's DRBG is not. Drawn 4 KiB
// at a time per thread, so an id costs a copy, not a call into OpenSSL.
class ThreadRandom {
 public:
  uint64_t Next() {
    if (used_ == buffer_.size()) Refill();
    uint64_t v;
    std::memcpy(&v, buffer_.data() + used_, sizeof v);
    used_ += sizeof v;
    return v;
  }

 private:
  void Refill() {
    if (RAND_bytes(buffer_.data(), static_cast<int>(buffer_.size())) != 1) {
      // OpenSSL could not seed itself: the kernel's generator, which blocks
      // only until it is initialized at boot.
      for (size_t got = 0; got < buffer_.size();) {
        const ssize_t n = ::getrandom(buffer_.data() + got, buffer_.size() - got, 0);
        if (n > 0) got += static_cast<size_t>(n);
      }
    }
    used_ = 0;
  }
  std::array<unsigned char, 4096> buffer_{};
  size_t used_ = buffer_.size();
};

ThreadRandom& ThisThreadRandom() {
  thread_local ThreadRandom random;
  return random;
}
}  // namespace

uint64_t RandomBits() { return ThisThreadRandom().Next(); }

Uuid Uuid::Random() {
  Uuid u;
  const uint64_t a = RandomBits(), b = RandomBits();
  std::memcpy(u.bytes.data(), &a, 8);
  std::memcpy(u.bytes.data() + 8, &b, 8);
  u.bytes[6] = static_cast<uint8_t>((u.bytes[6] & 0x0f) | 0x40);
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);
  return u;
}

namespace {
constexpr uint64_t kRandBMask = (uint64_t{1} << 62) - 1;
uint64_t LowWord(const Uuid& u) {
  uint64_t v = 0;
  for (int i = 8; i < 16; ++i) v = (v << 8) | u.bytes[i];
  return v;
}
bool IsVersion7(const Uuid& u) { return (u.bytes[6] >> 4) == 7 && (u.bytes[8] >> 6) == 2; }
}  // namespace

std::optional<Uuid> Uuid::Advanced(uint64_t steps) const {
  if (!IsVersion7(*this)) return std::nullopt;
  const uint64_t low = LowWord(*this);
  if (steps > kRandBMask - (low & kRandBMask)) return std::nullopt;
  Uuid next = *this;
  const uint64_t bumped = low + steps;  // stays within rand_b: the variant bits keep their value
  for (int i = 15; i >= 8; --i) next.bytes[i] = static_cast<uint8_t>(bumped >> (8 * (15 - i)));
  return next;
}

std::optional<uint64_t> Uuid::StepsFrom(const Uuid& first) const {
  if (!IsVersion7(*this) || !IsVersion7(first)) return std::nullopt;
  if (std::memcmp(bytes.data(), first.bytes.data(), 8) != 0) return std::nullopt;
  const uint64_t mine = LowWord(*this), theirs = LowWord(first);
  if (mine < theirs) return std::nullopt;
  return mine - theirs;
}

Uuid Uuid::TimeOrdered() {
  const uint64_t now =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  // rand_a (12 bits) is a sequence within the millisecond, started at a
  // random point below 2048 so it rarely overflows; when it does, the
  // timestamp moves one ms ahead. So one thread's ids sort in the order they
  // were made (RFC 9562, method 1). rand_b (62 bits) is random.
  thread_local uint64_t last_ms = 0;
  thread_local uint16_t sequence = 0;
  if (now > last_ms) {
    last_ms = now;
    sequence = static_cast<uint16_t>(RandomBits() & 0x7ff);
  } else if (++sequence > 0xfff) {
    ++last_ms;
    sequence = 0;
  }
  const uint64_t rand_b = RandomBits();
  Uuid u;
  for (int i = 0; i < 6; ++i) u.bytes[i] = static_cast<uint8_t>(last_ms >> (40 - 8 * i));
  u.bytes[6] = static_cast<uint8_t>(0x70 | (sequence >> 8));
  u.bytes[7] = static_cast<uint8_t>(sequence);
  std::memcpy(u.bytes.data() + 8, &rand_b, 8);
  u.bytes[8] = static_cast<uint8_t>((u.bytes[8] & 0x3f) | 0x80);
  return u;
}

std::optional<Uuid> Uuid::Parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Uuid u;
  size_t byte = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int hi = json::HexDigitValue(text[i]), lo = json::HexDigitValue(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u.bytes[byte++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return u;
}

void Uuid::FormatTo(char* dst) const {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t pos = 0;
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) dst[pos++] = '-';
    dst[pos++] = kHex[bytes[i] >> 4];
    dst[pos++] = kHex[bytes[i] & 0xf];
  }
}

std::string Uuid::ToString() const {
  std::string s(36, '\0');
  FormatTo(s.data());
  return s;
}

Uuid Uuid::FromBytes(std::string_view b) {
  Uuid u;
  std::memcpy(u.bytes.data(), b.data(), std::min<size_t>(b.size(), 16));
  return u;
}

size_t UuidHash::operator()(const Uuid& u) const { return XXH3_64bits(u.bytes.data(), 16); }

}  // namespace eventflow
