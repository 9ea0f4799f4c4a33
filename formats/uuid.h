// UUIDs as EventFlow stores them: 16 bytes, printed as lowercase 8-4-4-4-12.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eventflow {

struct Uuid {
  std::array<uint8_t, 16> bytes{};

  // A random version-4 UUID.
  static Uuid Random();
  // A version-7 UUID (RFC 9562): 48 bits of Unix milliseconds, then a
  // per-thread sequence and random bits. The ids the server assigns are
  // these, so consecutive events get nearby index keys (see engine/index.cc).
  static Uuid TimeOrdered();
  // The next id of a run of version-7 ids: rand_b (the low 62 bits) plus
  // one; nullopt for other versions or when rand_b would overflow. The
  // writer gives a request's events such runs so the index stores one entry
  // for each run (engine/index.h).
  std::optional<Uuid> Successor() const { return Advanced(1); }
  // `steps` successors on, in one step; nullopt as for Successor.
  std::optional<Uuid> Advanced(uint64_t steps) const;
  // How many Successor() steps lead from `first` to this id, if any do.
  std::optional<uint64_t> StepsFrom(const Uuid& first) const;
  // Parses the 36-character form in any case; nullopt otherwise.
  static std::optional<Uuid> Parse(std::string_view text);
  std::string ToString() const;
  // Writes the 36 lowercase characters to `dst`.
  void FormatTo(char* dst) const;
  std::string_view AsBytes() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  static Uuid FromBytes(std::string_view b);

  friend bool operator==(const Uuid&, const Uuid&) = default;
  friend auto operator<=>(const Uuid&, const Uuid&) = default;
};

struct UuidHash {
  size_t operator()(const Uuid& u) const;
};

}  // namespace eventflow
