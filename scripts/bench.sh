#!/usr/bin/env bash
# Builds Release and runs the benchmarks: the disk baseline (fio), then the
# engine micro benchmarks, in one run so the figures can be read as ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh --bench
echo "== disk (fio)"
./bench/disk.sh
echo "== engine micro benchmarks (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
./build/release/bench/engine_bench --benchmark_min_time=2 "$@"
echo "== metrics micro benchmarks"
./build/release/bench/metrics_bench --benchmark_min_time=1
