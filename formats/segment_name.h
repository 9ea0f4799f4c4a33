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
// A salvaged copy of a corrupt segment being written by `eventflow repair`.
inline constexpr std::string_view kRepairingSuffix = ".seg.repairing";
// A copy of the active segment being written after a failed flush
// (StreamLog::Relocate); a leftover is deleted when the stream opens.
inline constexpr std::string_view kRelocatingSuffix = ".seg.relocating";
// A quarantined original whose salvaged segment retention or compaction has
// since removed: kept (never deleted) but no longer a candidate for salvage.
inline constexpr std::string_view kExpiredQuarantineSuffix = ".seg.quarantined.expired";

std::string Make(uint64_t base_offset);
// The base offset of a live segment file name, or nullopt for anything else
// (quarantined, compacting, temporary or foreign files).
std::optional<uint64_t> Parse(std::string_view file_name);
// The base offset of a "{base:020}<suffix>" name, or nullopt.
std::optional<uint64_t> ParseWithSuffix(std::string_view file_name, std::string_view suffix);
// "{base:020}<suffix>".
std::string MakeWithSuffix(uint64_t base_offset, std::string_view suffix);

}  // namespace eventflow::segment_name
