// Random bits for ids other tenants see (UUIDs, trace and span ids): from a
// CSPRNG (OpenSSL's), buffered per thread (in uuid.cc), so no id tells what
// the next one will be.
#pragma once

#include <cstdint>

namespace eventflow {

uint64_t RandomBits();

}  // namespace eventflow
