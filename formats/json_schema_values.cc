// Value semantics JSON Schema needs beyond simdjson: exact number comparison,
// decimal multipleOf, code point counts, and JSON equality / hashing.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <functional>

#include "formats/json_schema_program.h"

namespace eventflow::json_schema {

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

constexpr double kTwoTo63 = 9223372036854775808.0;
constexpr double kTwoTo64 = 18446744073709551616.0;

int Order(bool less, bool greater) { return less ? -1 : greater ? 1 : 0; }

// Exact: `i` against `d` (never NaN: JSON has none).
int CompareIntDouble(int64_t i, double d) {
  if (d >= kTwoTo63) return -1;
  if (d < -kTwoTo63) return 1;
  const double t = std::trunc(d);
  const auto ti = static_cast<int64_t>(t);
  if (i != ti) return Order(i<ti, i> ti);
  return Order(d > t, d < t);  // i == trunc(d): the fraction of d decides
}

int CompareUintDouble(uint64_t u, double d) {
  if (d < 0) return 1;
  if (d >= kTwoTo64) return -1;
  const double t = std::trunc(d);
  const auto tu = static_cast<uint64_t>(t);
  if (u != tu) return Order(u<tu, u> tu);
  return Order(d > t, d < t);
}

// |value| == digits * 10^exp, with digits not divisible by 10 (or zero).
struct Decimal {
  uint64_t digits = 0;
  int exp = 0;
};

Decimal ToDecimal(const Number& n) {
  Decimal dec;
  switch (n.kind) {
    case Number::Kind::kInt:
      dec.digits = n.i < 0 ? 0 - static_cast<uint64_t>(n.i) : static_cast<uint64_t>(n.i);
      break;
    case Number::Kind::kUint:
      dec.digits = n.u;
      break;
    case Number::Kind::kDouble: {
      // The shortest text that round-trips: "7.5e-03" for 0.0075.
      char buf[64];
      const auto res =
          std::to_chars(buf, buf + sizeof buf, std::fabs(n.d), std::chars_format::scientific);
      const std::string_view text(buf, static_cast<size_t>(res.ptr - buf));
      const size_t e = text.find('e');
      int fraction_digits = 0;
      bool in_fraction = false;
      for (size_t i = 0; i < e; ++i) {
        if (text[i] == '.') {
          in_fraction = true;
          continue;
        }
        dec.digits = dec.digits * 10 + static_cast<uint64_t>(text[i] - '0');
        fraction_digits += in_fraction ? 1 : 0;
      }
      int exponent = 0;
      const char* first = text.data() + e + 1;
      if (*first == '+') ++first;
      std::from_chars(first, text.data() + text.size(), exponent);
      dec.exp = exponent - fraction_digits;
      break;
    }
  }
  while (dec.digits != 0 && dec.digits % 10 == 0) {
    dec.digits /= 10;
    ++dec.exp;
  }
  return dec;
}

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool IsNumberType(element_type t) {
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

}  // namespace

Number Number::From(element e) {
  Number n;
  switch (e.type()) {
    case element_type::INT64:
      n.kind = Kind::kInt;
      n.i = e.get_int64().value_unsafe();
      break;
    case element_type::UINT64:
      n.kind = Kind::kUint;
      n.u = e.get_uint64().value_unsafe();
      break;
    default:
      n.kind = Kind::kDouble;
      n.d = e.get_double().value_unsafe();
      break;
  }
  return n;
}

bool Number::IsIntegral() const {
  return kind != Kind::kDouble || (std::isfinite(d) && d == std::trunc(d));
}

bool Number::IsPositive() const {
  switch (kind) {
    case Kind::kInt:
      return i > 0;
    case Kind::kUint:
      return u > 0;
    case Kind::kDouble:
      return d > 0;
  }
  return false;
}

std::string Number::ToString() const {
  switch (kind) {
    case Kind::kInt:
      return std::to_string(i);
    case Kind::kUint:
      return std::to_string(u);
    case Kind::kDouble:
      break;
  }
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, res.ptr);
}

int Compare(const Number& a, const Number& b) {
  using K = Number::Kind;
  if (a.kind == K::kInt) {
    if (b.kind == K::kInt) return Order(a.i<b.i, a.i> b.i);
    if (b.kind == K::kUint) {
      if (a.i < 0) return -1;
      const auto ai = static_cast<uint64_t>(a.i);
      return Order(ai<b.u, ai> b.u);
    }
    return CompareIntDouble(a.i, b.d);
  }
  if (a.kind == K::kUint) {
    if (b.kind == K::kUint) return Order(a.u<b.u, a.u> b.u);
    if (b.kind == K::kDouble) return CompareUintDouble(a.u, b.d);
    return -Compare(b, a);
  }
  if (b.kind == K::kDouble) return Order(a.d<b.d, a.d> b.d);
  return -Compare(b, a);
}

bool IsMultipleOf(const Number& x, const Number& m) {
  const Decimal a = ToDecimal(x), b = ToDecimal(m);
  if (a.digits == 0) return true;
  if (b.digits == 0) return false;
  // a.digits is not divisible by 10, so it cannot absorb a positive power of
  // ten from the divisor: x / m is then a non-integer.
  if (a.exp < b.exp) return false;
  // Integer iff b.digits divides a.digits * 10^k. Past k = 64 the answer no
  // longer changes: b.digits < 2^64 holds at most 63 factors of 2 and of 5.
  const int k = std::min(a.exp - b.exp, 64);
  uint64_t r = a.digits % b.digits;
  for (int i = 0; i < k && r != 0; ++i) {
    r = static_cast<uint64_t>((static_cast<unsigned __int128>(r) * 10) % b.digits);
  }
  return r == 0;
}

size_t CountCodePoints(std::string_view s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}

std::string Shorten(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  while (max > 0 && (static_cast<unsigned char>(s[max]) & 0xC0) == 0x80) --max;
  return std::string(s.substr(0, max)) + "...";
}

bool JsonEqual(element a, element b, int depth_left, bool* too_deep) {
  const element_type ta = a.type(), tb = b.type();
  const bool na = IsNumberType(ta), nb = IsNumberType(tb);
  if (na || nb) return na && nb && Compare(Number::From(a), Number::From(b)) == 0;
  if (ta != tb) return false;
  switch (ta) {
    case element_type::STRING:
      return a.get_string().value_unsafe() == b.get_string().value_unsafe();
    case element_type::BOOL:
      return a.get_bool().value_unsafe() == b.get_bool().value_unsafe();
    case element_type::NULL_VALUE:
      return true;
    case element_type::ARRAY: {
      if (depth_left <= 0) {
        *too_deep = true;
        return false;
      }
      const simdjson::dom::array xa = ArrayOf(a);
      const simdjson::dom::array xb = ArrayOf(b);
      if (xa.size() != xb.size()) return false;
      auto ib = xb.begin();
      for (auto ia = xa.begin(); ia != xa.end(); ++ia, ++ib) {
        if (!JsonEqual(*ia, *ib, depth_left - 1, too_deep)) return false;
      }
      return true;
    }
    case element_type::OBJECT: {
      if (depth_left <= 0) {
        *too_deep = true;
        return false;
      }
      const simdjson::dom::object oa = ObjectOf(a);
      const simdjson::dom::object ob = ObjectOf(b);
      if (oa.size() != ob.size()) return false;
      for (const auto& kv : oa) {
        element other;
        if (ob.at_key(kv.key).get(other)) return false;
        if (!JsonEqual(kv.value, other, depth_left - 1, too_deep)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

uint64_t JsonHash(element e, int depth_left, bool* too_deep) {
  switch (e.type()) {
    case element_type::NULL_VALUE:
      return Mix(1);
    case element_type::BOOL:
      return Mix(e.get_bool().value_unsafe() ? 3 : 2);
    case element_type::STRING:
      return Mix(std::hash<std::string_view>()(e.get_string().value_unsafe()) ^ 4);
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: {
      // Equal values hash alike whatever their kind: integral values as
      // integers, the rest by their bits (there is no NaN; -0.0 is integral).
      const Number n = Number::From(e);
      if (n.kind == Number::Kind::kInt) return Mix(static_cast<uint64_t>(n.i));
      if (n.kind == Number::Kind::kUint) return Mix(n.u);
      if (n.IsIntegral() && n.d >= -kTwoTo63 && n.d < kTwoTo63) {
        return Mix(static_cast<uint64_t>(static_cast<int64_t>(n.d)));
      }
      if (n.IsIntegral() && n.d >= 0 && n.d < kTwoTo64) return Mix(static_cast<uint64_t>(n.d));
      uint64_t bits;
      static_assert(sizeof bits == sizeof n.d);
      std::memcpy(&bits, &n.d, sizeof bits);
      return Mix(bits ^ 5);
    }
    case element_type::ARRAY: {
      if (depth_left <= 0) {
        *too_deep = true;
        return 0;
      }
      uint64_t h = Mix(6);
      for (const element item : ArrayOf(e)) {
        h = Mix(h ^ JsonHash(item, depth_left - 1, too_deep));
      }
      return h;
    }
    case element_type::OBJECT: {
      if (depth_left <= 0) {
        *too_deep = true;
        return 0;
      }
      uint64_t sum = 7;  // order-independent: a sum of per-member hashes
      for (const auto& kv : ObjectOf(e)) {
        const uint64_t k = std::hash<std::string_view>()(kv.key);
        sum += Mix(k ^ Mix(JsonHash(kv.value, depth_left - 1, too_deep)));
      }
      return Mix(sum);
    }
  }
  return 0;
}

}  // namespace eventflow::json_schema
