#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS (default 60) on the sanitizer build
# (build/asan, clang: the build scripts/test.sh makes), starting from its
# seed corpus in tests/fuzz/corpus/TARGET and keeping what it finds in
# build/asan/fuzz-corpus/TARGET (the seeds are never written). A crash
# leaves its input in build/asan/fuzz-findings/TARGET/; add it to the seeds
# and a regression test once it is fixed.
#   scripts/fuzz.sh TARGET [SECONDS] [libFuzzer flags...]
#   scripts/fuzz.sh list
# Targets: fuzz_http fuzz_envelope fuzz_schema fuzz_rules fuzz_json_edit fuzz_segment
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=(fuzz_http fuzz_envelope fuzz_schema fuzz_rules fuzz_json_edit fuzz_segment)
if [[ $# -lt 1 || "$1" == "list" ]]; then
  printf '%s\n' "${TARGETS[@]}"
  exit 0
fi
TARGET=$1
SECONDS_TO_RUN=${2:-60}
shift $(($# >= 2 ? 2 : 1))
if [[ ! " ${TARGETS[*]} " =~ " $TARGET " ]]; then
  echo "fuzz.sh: unknown target $TARGET (scripts/fuzz.sh list)" >&2
  exit 2
fi
BUILD=build/asan
if [[ ! -x "$BUILD/tests/fuzz/$TARGET" ]]; then
  ./scripts/setup.sh
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEVENTFLOW_SANITIZE=ON -DEVENTFLOW_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$BUILD" -j "${JOBS:-2}" --target "$TARGET"
fi
CORPUS="$BUILD/fuzz-corpus/$TARGET"
FINDINGS="$BUILD/fuzz-findings/$TARGET"
mkdir -p "$CORPUS" "$FINDINGS"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
exec "$BUILD/tests/fuzz/$TARGET" -max_total_time="$SECONDS_TO_RUN" -timeout=10 \
  -rss_limit_mb=4096 -print_final_stats=1 -dict="tests/fuzz/dict/$TARGET.dict" \
  -artifact_prefix="$FINDINGS/" "$@" "$CORPUS" "tests/fuzz/corpus/$TARGET"
