#!/usr/bin/env bash
# This machine's disk, for reading the engine figures as a fraction of it:
# sequential write bandwidth and the latency of a 4 KiB append + fdatasync.
# Uses fio on a scratch file under ${EVENTFLOW_BENCH_DIR:-/tmp}; prints JSON.
set -euo pipefail
DIR=${EVENTFLOW_BENCH_DIR:-/tmp}/eventflow-fio.$$
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT
seq=$(fio --name=seqwrite --directory="$DIR" --rw=write --bs=1M --size=1G --ioengine=psync \
  --end_fsync=1 --output-format=json | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["jobs"][0]["write"]["bw_bytes"]/1e6)')
sync_lat=$(fio --name=fdatasync --directory="$DIR" --rw=write --bs=4k --size=16M --ioengine=psync \
  --fdatasync=1 --output-format=json | python3 -c '
import json,sys
j=json.load(sys.stdin)["jobs"][0]["sync"]["lat_ns"]
print("%.3f %.3f" % (j["mean"]/1e6, j["percentile"]["99.000000"]/1e6))')
read -r mean p99 <<<"$sync_lat"
printf '{"seq_write_MBps": %.0f, "fdatasync_4k_mean_ms": %s, "fdatasync_4k_p99_ms": %s}\n' "$seq" "$mean" "$p99"
