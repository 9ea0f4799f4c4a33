// Segment file names: "{base_offset:020}.seg". Every name is made and parsed
// here, so a sorted directory listing is the recovery order.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eventflow::segment_name {

inline constexpr std::string_view kSuffix = ".seg";
inline constexpr std::string_view kQuarantinedSuffix = ".seg.quarantined";
inline constexpr std::string_view kCompactingSuffix = ".seg.compacting";

std::string Make(uint64_t base_offset);
// The base offset of a live segment file name, or nullopt for anything else
// (quarantined, compacting, temporary or foreign files).
std::optional<uint64_t> Parse(std::string_view file_name);

}  // namespace eventflow::segment_name
