#!/usr/bin/env bash
# HTTP load benchmark on loopback, every workload in one run so the figures
# read as ratios (the machine is shared and noisy):
#   nginx_202        nginx (2 workers, no access log) answering every POST with
#                    a fixed 202: this machine's ceiling
#   produce          EventFlow, --fsync always, single ~200 B event per POST;
#                    the server runs with metrics on and info-level JSON logs
#   produce_nometrics  the same against a second server (own data dir) with
#                    --no-metrics --log-level warn: the cost of observability
#   produce_schema   the same to a stream with a 10-property JSON Schema
#   batch            1000 events per POST (8 connections, or BATCH_CONNS), in events/s
#   consume          4 consumer groups polling 1000 and committing each batch
#   rules            events/s through a stream (4 producers posting batches of
#                    1000, one group consuming and committing, first post to
#                    last event consumed) with a filter (keeps 90%) and a
#                    transform rule, beside the same stream without rules
#   idle             10,000 idle keep-alive connections: server RSS (run first,
#                    before the other workloads fill memtables and the page cache)
#   nginx_202_tls    nginx's fixed 202 over TLS (a self-signed P-256 certificate
#                    made for the run; TLS 1.3 as wrk negotiates it)
#   produce_tls      produce against a third server (own data dir) listening
#                    with --tls-cert/--tls-key on that certificate
# wrk: keep-alive, 64 connections (unless said), 2 threads, DURATION s each.
# Usage: bench/load.sh [DURATION] [WORKLOAD...]   (Release build:
# scripts/build.sh --bench). Prints one JSON document.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
shift || true
WORKLOADS=${*:-idle nginx_202 produce produce_nometrics produce_schema batch consume rules nginx_202_tls produce_tls}
BIN=${EVENTFLOW_BIN:-./build/release/cli/eventflow}
DRIVER=${LOAD_DRIVER:-./build/release/bench/load_driver}
WORK=$(mktemp -d /tmp/eventflow-load.XXXXXX)
NGINX_PORT=18081
NGINX_TLS_PORT=18082
ADMIN=load-bench-admin-key
cleanup() {
  [[ -n "${EF_PID:-}" ]] && kill "$EF_PID" 2>/dev/null && wait "$EF_PID" 2>/dev/null || true
  [[ -n "${OFF_PID:-}" ]] && kill "$OFF_PID" 2>/dev/null && wait "$OFF_PID" 2>/dev/null || true
  [[ -n "${TLS_PID:-}" ]] && kill "$TLS_PID" 2>/dev/null && wait "$TLS_PID" 2>/dev/null || true
  [[ -f "$WORK/nginx.pid" ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# One certificate for both TLS listeners, so they do the same cryptography.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -keyout "$WORK/tls.key" -out "$WORK/tls.pem" 2>/dev/null
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
  server {
    listen 127.0.0.1:$NGINX_TLS_PORT ssl;
    ssl_certificate $WORK/tls.pem;
    ssl_certificate_key $WORK/tls.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type application/json; return 202 '{"status":"ACCEPTED"}'; }
  }
}
CONF
nginx -c "$WORK/nginx.conf"

start_server() {  # name extra-flags... ; sets SERVER_PID and SERVER_ADDR
  local name=$1
  shift
  "$BIN" serve --data-dir "$WORK/$name" --listen 127.0.0.1:0 --bootstrap-key "$ADMIN" \
    --fsync always --max-connections 20000 --idle-timeout-ms 600000 "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SERVER_PID=$!
  for _ in $(seq 100); do grep -q listening "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
  SERVER_ADDR=$(sed -n 's/^listening on \([^ ]*\).*/\1/p' "$WORK/$name.out")
}
# The main server: metrics on, JSON logs at info (as an operator would run it).
start_server data --log-format json --log-level info
EF_PID=$SERVER_PID
EF_ADDR=$SERVER_ADDR
api() {  # method path [body] (to $ADDR, default the main server)
  curl -sfk -X "$1" "${SCHEME:-http}://${ADDR:-$EF_ADDR}$2" -H "X-API-Key: $ADMIN" \
    -H 'Content-Type: application/json' ${3:+-d "$3"}
}
api POST /api/v1/streams '{"name":"load"}' >/dev/null
api POST /api/v1/streams '{"name":"batch"}' >/dev/null
# A typical producer schema: ten typed properties, six required, bounds and a pattern.
SCHEMA='{"type":"object","required":["taskId","title","organizationId","projectId","createdBy","n"],
"properties":{"taskId":{"type":"string","pattern":"^t-[0-9]+$"},"title":{"type":"string","maxLength":200},
"organizationId":{"type":"string"},"projectId":{"type":"string"},"createdBy":{"type":"string"},
"n":{"type":"integer","minimum":0},"priority":{"enum":["low","normal","high"]},
"tags":{"type":"array","items":{"type":"string"},"maxItems":10},"dueAt":{"type":"string"},
"done":{"type":"boolean"}},"additionalProperties":false}'
schema_ok=1
api POST /api/v1/streams "{\"name\":\"load-schema\",\"schema\":$SCHEMA}" >/dev/null || schema_ok=0

EVENT='{"event_type":"TaskCreated","key":"org-42","payload":{"taskId":"t-1","title":"Write the docs for the event store","organizationId":"org-42","projectId":"p-7","createdBy":"u-9","n":12345}}'
cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$EVENT'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$ADMIN"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f %.3f %.3f %.3f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
# The batch body: 1000 copies of the event in {"events": [...]}.
{
  echo "local e = {}"
  echo "for i = 1, 1000 do e[i] = '$EVENT' end"
  sed -e 's/^wrk.body = .*$/wrk.body = "{\\"events\\":[" .. table.concat(e, ",") .. "]}"/' "$WORK/post.lua"
} >"$WORK/batch.lua"

# CPU time (user + system, clock ticks) the process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wrk_run() {  # name url script connections [events_per_request]
  # With CPU_PID set, also reports that server's CPU microseconds per request:
  # steadier than req/s when other work shares the machine.
  local r cpu_before=0 cpu_after=0
  [[ -n "${CPU_PID:-}" ]] && cpu_before=$(cpu_ticks "$CPU_PID")
  r=$(wrk -t2 -c"$4" -d"${DURATION}s" --latency -s "$3" "$2" | sed -n 's/^RESULT //p')
  [[ -n "${CPU_PID:-}" ]] && cpu_after=$(cpu_ticks "$CPU_PID")
  read -r rps p50 p99 p999 status_err sock_err <<<"$r"
  python3 -c 'import json,sys
n,c,rps,per,p50,p99,p999,se,ke,ticks,hz,secs = sys.argv[1:]
row = {"workload": n, "connections": int(c), "rps": float(rps),
  "events_per_s": float(rps) * int(per), "p50_ms": float(p50), "p99_ms": float(p99),
  "p999_ms": float(p999), "non_2xx": int(se), "socket_errors": int(ke)}
if int(ticks) > 0:
    row["server_cpu_us_per_request"] = round(int(ticks) / int(hz) * 1e6 / (float(rps) * float(secs)), 1)
print(json.dumps(row))' \
    "$1" "$4" "$rps" "${5:-1}" "$p50" "$p99" "$p999" "$status_err" "$sock_err" \
    "$((cpu_after - cpu_before))" "$(getconf CLK_TCK)" "$DURATION" >>"$RESULTS"
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$EF_PID/status"; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$EF_PID/status"; }
event_count() { api GET "/api/v1/streams/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event_count"])'; }

for w in $WORKLOADS; do
  case $w in
    nginx_202) wrk_run nginx_202 "http://127.0.0.1:$NGINX_PORT/" "$WORK/post.lua" 64 ;;
    produce) CPU_PID=$EF_PID wrk_run produce "http://$EF_ADDR/api/v1/streams/load/events" "$WORK/post.lua" 64 ;;
    nginx_202_tls) wrk_run nginx_202_tls "https://127.0.0.1:$NGINX_TLS_PORT/" "$WORK/post.lua" 64 ;;
    produce_tls)
      if [[ -z "${TLS_PID:-}" ]]; then
        start_server data-tls --tls-cert "$WORK/tls.pem" --tls-key "$WORK/tls.key"
        TLS_PID=$SERVER_PID
        TLS_ADDR=$SERVER_ADDR
        SCHEME=https ADDR=$TLS_ADDR api POST /api/v1/streams '{"name":"load"}' >/dev/null
      fi
      CPU_PID=$TLS_PID wrk_run produce_tls "https://$TLS_ADDR/api/v1/streams/load/events" \
        "$WORK/post.lua" 64 ;;
    produce_nometrics)
      if [[ -z "${OFF_PID:-}" ]]; then
        start_server data-off --no-metrics --log-level warn
        OFF_PID=$SERVER_PID
        OFF_ADDR=$SERVER_ADDR
        ADDR=$OFF_ADDR api POST /api/v1/streams '{"name":"load"}' >/dev/null
      fi
      CPU_PID=$OFF_PID wrk_run produce_nometrics "http://$OFF_ADDR/api/v1/streams/load/events" \
        "$WORK/post.lua" 64 ;;
    produce_schema)
      if [[ $schema_ok == 1 ]]; then
        wrk_run produce_schema "http://$EF_ADDR/api/v1/streams/load-schema/events" "$WORK/post.lua" 64
      else
        echo '{"workload":"produce_schema","skipped":"the server refused the schema"}' >>"$RESULTS"
      fi ;;
    batch) wrk_run batch "http://$EF_ADDR/api/v1/streams/batch/events/batch" "$WORK/batch.lua" ${BATCH_CONNS:-8} 1000 ;;
    consume)
      n=$(event_count batch)
      if [[ $n -lt 1000 ]]; then  # consume on its own: fill the stream first
        DURATION=3 wrk_run fill "http://$EF_ADDR/api/v1/streams/batch/events/batch" "$WORK/batch.lua" 8 1000
        n=$(event_count batch)
        # The fill's writeback is not the consumers' cost: let it land first
        # (the commits' synced index writes would wait behind it).
        sync
      fi
      # CONSUME_EVENTS fixes the events each group reads, so runs whose fill
      # stored different amounts compare like for like.
      want=${CONSUME_EVENTS:-1000000}
      per_group=$((want < n ? want : n))
      "$DRIVER" consume "$EF_ADDR" "$ADMIN" batch 4 1000 "$per_group" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); d["workload"]="consume"; print(json.dumps(d))' >>"$RESULTS" ;;
    rules)
      RULES='[{"type":"filter","where":{"field":"/payload/amount","op":"gte","value":1}},
        {"type":"transform","set":{"/payload/currency":"EUR"},"remove":["/payload/card"],
         "rename":{"/payload/amount":"/payload/total"}}]'
      api POST /api/v1/streams '{"name":"through-plain"}' >/dev/null
      api POST /api/v1/streams "{\"name\":\"through-rules\",\"processing\":{\"rules\":$RULES}}" >/dev/null
      n=${PIPELINE_EVENTS:-400000}
      for s in plain rules; do
        expected=$n
        [[ $s == rules ]] && expected=$((n / 10 * 9))
        "$DRIVER" pipeline "$EF_ADDR" "$ADMIN" "through-$s" "$n" "$expected" |
          python3 -c 'import json,sys; d=json.load(sys.stdin); d["workload"]="through_"+sys.argv[1]; print(json.dumps(d))' "$s" >>"$RESULTS"
      done ;;
    idle)
      before=$(rss_kb)
      coproc IDLE { "$DRIVER" idle "$EF_ADDR" 10000 5; }
      read -r ready <&"${IDLE[0]}"
      sleep 2
      during=$(rss_kb)
      during_anon=$(anon_kb)
      read -r summary <&"${IDLE[0]}"
      wait "$IDLE_PID" || true
      python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(workload="idle",
        rss_before_mb=round(int(sys.argv[2])/1024,1), rss_with_connections_mb=round(int(sys.argv[3])/1024,1),
        anon_rss_with_connections_mb=round(int(sys.argv[4])/1024,1))
print(json.dumps(d))' "$summary" "$before" "$during" "$during_anon" >>"$RESULTS" ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
done

python3 - "$RESULTS" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
# A workload run more than once (e.g. `produce produce_nometrics produce
# produce_nometrics`, to interleave a pair) counts with its mean rps.
runs = {}
for r in rows:
    if "rps" in r:
        runs.setdefault(r["workload"], []).append(r["rps"])
rps = {w: sum(v) / len(v) for w, v in runs.items()}
cpu = {}
for r in rows:
    if "server_cpu_us_per_request" in r:
        cpu.setdefault(r["workload"], []).append(r["server_cpu_us_per_request"])
out = {"commit": sys.argv[2], "results": rows, "ratios": {}}
def ratio(name, a, b):
    if a in rps and b in rps:
        out["ratios"][name] = round(rps[a] / rps[b], 3)
ratio("produce_to_nginx", "produce", "nginx_202")
ratio("produce_tls_to_nginx_tls", "produce_tls", "nginx_202_tls")
ratio("produce_tls_to_produce", "produce_tls", "produce")
ratio("schema_to_schema_free", "produce_schema", "produce")
ratio("observability_on_to_off", "produce", "produce_nometrics")
through = {r["workload"]: r["events_per_s"] for r in rows if r["workload"].startswith("through_")}
if "through_rules" in through and "through_plain" in through:
    out["ratios"]["rules_to_rule_free"] = round(through["through_rules"] / through["through_plain"], 3)
if "produce" in cpu and "produce_nometrics" in cpu:
    mean = lambda v: sum(v) / len(v)
    out["ratios"]["observability_cpu_per_request_on_to_off"] = round(
        mean(cpu["produce"]) / mean(cpu["produce_nometrics"]), 3)
print(json.dumps(out, indent=1))
PY
