#!/usr/bin/env bash
# Release build (for run.sh and the benchmarks) in build/release.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh "$@"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DEVENTFLOW_BUILD_TESTS=OFF \
  -DEVENTFLOW_BUILD_BENCHMARKS=ON >/dev/null
cmake --build build/release -j "${JOBS:-2}"
