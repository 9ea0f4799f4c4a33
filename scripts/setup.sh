#!/usr/bin/env bash
# Installs the Debian packages EventFlow builds, tests and benchmarks with.
# Idempotent: only missing packages are installed, and `apt-get update` runs
# at most once per call. Needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config clang-format
  clang libclang-rt-14-dev  # the sanitizer build and libFuzzer (scripts/test.sh, fuzz.sh)
  libboost1.81-dev librocksdb-dev libsimdjson-dev libxxhash-dev libisal-dev
  libcli11-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  libre2-dev libssl-dev prometheus-cpp-dev libsqlite3-dev libjemalloc-dev liburing-dev
  json-schema-test-suite curl python3 openssl
  prometheus  # promtool, for the metrics and alert-rule tests
)
# Benchmarks only (scripts/bench.sh passes --bench).
BENCH_PACKAGES=(fio nginx wrk)

want=("${PACKAGES[@]}")
if [[ "${1:-}" == "--bench" ]]; then want+=("${BENCH_PACKAGES[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
