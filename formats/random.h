// Random bits for ids that must be unique, not secret (UUIDs, trace and span
// ids): one generator per thread, seeded once from the OS (in uuid.cc).
#pragma once

#include <cstdint>

namespace eventflow {

uint64_t RandomBits();

}  // namespace eventflow
