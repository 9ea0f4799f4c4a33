#!/usr/bin/env bash
# The victim's produce p99 alone and under a hostile org's worst inputs, in
# one sitting (docs/benchmarks.md, "Hostile tenant"). Release build
# (scripts/build.sh --bench). Usage: bench/hostile.sh [SECONDS] [RATE] [control]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/hostile.py "${EVENTFLOW_BIN:-./build/release/cli/eventflow}" "${1:-10}" "${2:-1000}" ${3:-}
