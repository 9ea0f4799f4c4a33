#!/usr/bin/env bash
# Tasks/s through the whole "Create Task" path of examples/task-lifecycle on
# loopback: TASKS (2000) POST /workflow/tasks with PARALLEL (32) in flight
# (curl --parallel, one connection per request), then the time until the
# relay has published them all and all three consumers have applied them.
# Prints one JSON line. Needs a Release build (BUILD=build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
TASKS=${TASKS:-2000}
PARALLEL=${PARALLEL:-32}
EVENTFLOW=${EVENTFLOW_BIN:-$BUILD/cli/eventflow}
SERVICE=$BUILD/examples/task-lifecycle/task_service
CONSUMER=$BUILD/examples/task-lifecycle/task_consumer
command -v openssl >/dev/null || { echo "needs the openssl command (apt-get install openssl) to sign tokens" >&2; exit 1; }
WORK=$(mktemp -d)
ADMIN=bench-admin-secret
JWT_SECRET=bench-jwt-secret
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
launch() { local name=$1; shift; "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" & pids+=($!); }
address() {
  for _ in $(seq 100); do
    if grep -q '^listening on' "$WORK/$1.out" 2>/dev/null; then
      sed -n 's/^listening on //p' "$WORK/$1.out" | head -1; return; fi
    sleep 0.1
  done
  echo "$1 did not start" >&2; exit 1
}
now() { date +%s.%N; }

launch eventflow "$EVENTFLOW" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 \
  --bootstrap-key "$ADMIN" --log-level warn
EF=$(address eventflow)
KEY=$ADMIN
api() { curl -s -X "$1" "http://$EF$2" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -d "$3"; }
KEY=$(api POST /api/v1/admin/api-keys '{"org_id":"acme","name":"bench"}' | sed 's/.*"api_key":"\([^"]*\)".*/\1/')
for s in workflow.task.created organization.member.added organization.member.removed billing.entitlements.updated; do
  api POST /api/v1/streams "{\"name\":\"$s\"}" >/dev/null
done
api POST /api/v1/streams/organization.member.added/events \
  '{"event_type":"MemberAdded","payload":{"organizationId":"org-1","userId":"alice"}}' >/dev/null
api POST /api/v1/streams/billing.entitlements.updated/events \
  "{\"event_type\":\"EntitlementsUpdated\",\"payload\":{\"organizationId\":\"org-1\",\"maxTasks\":$((TASKS * 2))}}" >/dev/null
launch service "$SERVICE" --listen 127.0.0.1:0 --db "$WORK/service.db" --server "$EF" \
  --api-key "$KEY" --jwt-secret "$JWT_SECRET"
SVC=$(address service)
for role in audit analytics notification; do
  launch $role "$CONSUMER" --role $role --db "$WORK/$role.db" --server "$EF" --api-key "$KEY"
done
sleep 2  # the service's caches take in the membership and plan events

b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
H=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
P=$(printf '{"sub":"alice","exp":%d}' $(( $(date +%s) + 3600 )) | b64)
S=$(printf '%s.%s' "$H" "$P" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64)
for _ in $(seq "$TASKS"); do printf 'url = "http://%s/workflow/tasks"\noutput = "/dev/null"\n' "$SVC"; done >"$WORK/urls"

start=$(now)
curl -s --no-progress-meter -Z --parallel-max "$PARALLEL" -X POST -H "Authorization: Bearer $H.$P.$S" \
  -H 'Content-Type: application/json' \
  -d '{"organizationId":"org-1","projectId":"p-1","title":"benchmark task"}' \
  -w '%{http_code}\n' -K "$WORK/urls" >"$WORK/codes"
created=$(now)
for _ in $(seq 1200); do
  done_all=1
  for role in audit analytics notification; do
    [[ $(wc -l <"$WORK/$role.out") -ge $TASKS ]] || done_all=0
  done
  [[ $done_all == 1 ]] && break
  sleep 0.05
done
consumed=$(now)
ok=$(grep -c '^201$' "$WORK/codes" || true)
awk -v n="$TASKS" -v ok="$ok" -v par="$PARALLEL" -v s="$start" -v c="$created" -v e="$consumed" 'BEGIN {
  printf "{\"workload\":\"task_lifecycle\",\"tasks\":%d,\"created_201\":%d,\"parallel\":%d,", n, ok, par
  printf "\"create_s\":%.3f,\"tasks_per_s\":%.0f,\"end_to_end_s\":%.3f,\"end_to_end_tasks_per_s\":%.0f}\n", c - s, ok / (c - s), e - s, ok / (e - s)
}'
