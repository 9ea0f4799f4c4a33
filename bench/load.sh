#!/usr/bin/env bash
# Load benchmark on loopback: EventFlow (fsync always) beside nginx answering
# every POST with a fixed 202 (this machine's ceiling), both driven by wrk in
# the same run: POST of a ~200-byte JSON event, keep-alive, 64 connections,
# 2 threads, DURATION seconds each. Prints requests/s, p50/p99 and the ratio.
# Usage: bench/load.sh [DURATION]   (needs a Release build: scripts/build.sh --bench)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
BIN=${EVENTFLOW_BIN:-./build/release/cli/eventflow}
WORK=$(mktemp -d /tmp/eventflow-load.XXXXXX)
NGINX_PORT=18081
ADMIN=load-bench-admin-key
cleanup() {
  [[ -n "${EF_PID:-}" ]] && kill "$EF_PID" 2>/dev/null && wait "$EF_PID" 2>/dev/null || true
  [[ -f "$WORK/nginx.pid" ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# nginx: 2 workers, no access log, a fixed 202 for everything.
cat >"$WORK/nginx.conf" <<CONF
worker_processes 2;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type application/json; return 202 '{"status":"ACCEPTED"}'; }
  }
}
CONF
nginx -c "$WORK/nginx.conf"

"$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 --bootstrap-key "$ADMIN" \
  --fsync always >"$WORK/ef.out" 2>"$WORK/ef.err" &
EF_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/ef.out" 2>/dev/null && break; sleep 0.1; done
EF_ADDR=$(sed -n 's/^listening on //p' "$WORK/ef.out")
curl -sf -X POST "http://$EF_ADDR/api/v1/streams" -H "X-API-Key: $ADMIN" \
  -H 'Content-Type: application/json' -d '{"name":"load"}' >/dev/null

PAYLOAD='{"event_type":"TaskCreated","key":"org-42","payload":{"taskId":"t-1","title":"Write the docs for the event store","organizationId":"org-42","projectId":"p-7","createdBy":"u-9","n":12345}}'
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$PAYLOAD'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$ADMIN"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
run() {  # url -> "rps p50_ms p99_ms status_errors socket_errors"
  wrk -t2 -c64 -d"${DURATION}s" --latency -s "$WORK/post.lua" "$1" | sed -n 's/^RESULT //p'
}
read -r n_rps n_p50 n_p99 n_err n_sock <<<"$(run "http://127.0.0.1:$NGINX_PORT/")"
read -r e_rps e_p50 e_p99 e_err e_sock <<<"$(run "http://$EF_ADDR/api/v1/streams/load/events")"
stored=$(curl -sf "http://$EF_ADDR/api/v1/streams/load" -H "X-API-Key: $ADMIN" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["event_count"])')
python3 - "$n_rps" "$n_p50" "$n_p99" "$e_rps" "$e_p50" "$e_p99" "$e_err" "$stored" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import json, sys
n_rps, n_p50, n_p99, e_rps, e_p50, e_p99 = map(float, sys.argv[1:7])
print(json.dumps({"commit": sys.argv[9], "workload": "single POST ~200 B, 64 conns, 2 wrk threads",
  "nginx_202": {"rps": n_rps, "p50_ms": n_p50, "p99_ms": n_p99},
  "eventflow_fsync_always": {"rps": e_rps, "p50_ms": e_p50, "p99_ms": e_p99,
                             "non_2xx": int(sys.argv[7]), "events_stored": int(sys.argv[8])},
  "ratio_eventflow_to_nginx": round(e_rps / n_rps, 3)}, indent=1))
PY
