#!/usr/bin/env bash
# Operator command speeds over a data dir of SIZE_MIB (default 1024) of keyed
# ~1 KiB events, made by bench/make_log with a Release build: segments verify
# and dump (MB/s, files in the page cache), compaction of a log whose keys
# repeat (MB/s of log scanned). Prints JSON. Needs ./scripts/build.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
KEYS=${2:-10000}
BUILD=${EVENTFLOW_BUILD:-build/release}
BIN=$BUILD/cli/eventflow
DIR=${EVENTFLOW_BENCH_DIR:-/tmp}/eventflow-cli-bench.$$
trap 'rm -rf "$DIR"' EXIT
"$BUILD/bench/make_log" "$DIR" "$SIZE_MIB" "$KEYS" >/dev/null
bytes=$(du -sb "$DIR/streams" | cut -f1)
cat "$DIR"/streams/*/*.seg >/dev/null  # warm the page cache

secs() {  # seconds a command takes, output discarded
  python3 -c 'import subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(time.monotonic() - t)' "$@"
}
verify_s=$(secs "$BIN" segments verify --data-dir "$DIR")
dump_s=$(secs "$BIN" segments dump --data-dir "$DIR" --stream log --json)
compact_out=$("$BIN" compact --data-dir "$DIR")
compact_mbps=$(sed -n 's/.*(\([0-9.]*\) MB\/s;.*/\1/p' <<<"$compact_out")
after=$(du -sb "$DIR/streams" | cut -f1)
python3 - "$bytes" "$verify_s" "$dump_s" "$compact_mbps" "$after" <<'PY'
import json, sys
b, v, d, c, after = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(json.dumps({"log_MB": round(b / 1e6), "verify_MBps": round(b / 1e6 / v),
                  "dump_json_MBps": round(b / 1e6 / d), "compact_MBps": round(c),
                  "bytes_after_compaction_MB": round(after / 1e6)}))
PY
