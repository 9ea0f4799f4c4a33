#!/usr/bin/env bash
# Installs what is missing, builds once with clang, AddressSanitizer + UBSan
# (and libFuzzer's coverage hooks, so the fuzz targets link the same objects)
# and runs every test (unit, end-to-end, crash, a few seconds of each fuzz
# target) under ctest on that build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
BUILD=build/asan
CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEVENTFLOW_SANITIZE=ON -DEVENTFLOW_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$BUILD" -j "${JOBS:-2}"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
export EVENTFLOW_BIN="$PWD/$BUILD/cli/eventflow"
ctest --test-dir "$BUILD" --output-on-failure -j "${JOBS:-2}" --timeout 600 "$@"
