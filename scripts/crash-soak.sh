#!/usr/bin/env bash
# kill -9 soak of the real server (docs/testing.md, tests/crash/crash_soak.cc):
#   scripts/crash-soak.sh [N]   N kill -9 cycles (default 1000) under mixed
#                               load on a Release build; every acknowledged
#                               event must be there exactly once after each
# The data dir is build/crash/soak-data (kept for a look after a failure).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
cmake -S . -B build/crash -G Ninja -DCMAKE_BUILD_TYPE=Release -DEVENTFLOW_BUILD_TESTS=ON \
  -DEVENTFLOW_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/crash -j "${JOBS:-2}" --target crash_soak eventflow >/dev/null
exec build/crash/tests/crash_soak --cycles "${1:-1000}" --data-dir build/crash/soak-data \
  --bin build/crash/cli/eventflow
