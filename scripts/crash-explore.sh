#!/usr/bin/env bash
# The crash-state explorer (docs/testing.md, tests/crash/) on a Release build:
#   scripts/crash-explore.sh [N]         N crash states (default 100000), split
#                                        over the fsync policies and over one
#                                        process per core, states on tmpfs
#   scripts/crash-explore.sh --state ID  replays one state a run reported
# Traces and failing states are kept in build/crash/crash-traces.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
cmake -S . -B build/crash -G Ninja -DCMAKE_BUILD_TYPE=Release -DEVENTFLOW_BUILD_TESTS=ON \
  -DEVENTFLOW_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build/crash -j "${JOBS:-2}" --target crash_explore >/dev/null
explore=build/crash/tests/crash_explore
traces=build/crash/crash-traces
mkdir -p "$traces"

if [[ "${1:-}" == "--state" ]]; then
  exec "$explore" --trace-dir "$traces" --state "$2"
fi

states="${1:-100000}"
procs="${PROCS:-$(nproc)}"
# Each process runs its own workloads (seeds), so their traces differ; 60
# states per position and policy on average keeps every run spread wide.
per_proc=$(( states / procs ))
seeds=$(( per_proc / 6 / 700 + 1 ))
echo "crash-explore: $states states, $procs processes, $seeds workload seeds each"
start=$(date +%s)
pids=()
for p in $(seq 0 $(( procs - 1 ))); do
  "$explore" --states "$per_proc" --seed $(( 1 + p * 1000 )) --seeds "$seeds" \
    --trace-dir "$traces" --keep-going >"$traces/run-$p.log" 2>&1 &
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
cat "$traces"/run-*.log | grep -v '^    #' || true
echo "crash-explore: done in $(( $(date +%s) - start )) s (exit $rc)"
exit $rc
