#!/usr/bin/env bash
# Starts EventFlow, the task service (with its relay) and the three consumers
# on loopback, creates a few tasks with curl and prints what each consumer
# did. Needs a build: BUILD=build/release by default.
#   examples/task-lifecycle/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/release}
EVENTFLOW=${EVENTFLOW_BIN:-$BUILD/cli/eventflow}
SERVICE=$BUILD/examples/task-lifecycle/task_service
CONSUMER=$BUILD/examples/task-lifecycle/task_consumer
for b in "$EVENTFLOW" "$SERVICE" "$CONSUMER"; do
  [[ -x $b ]] || { echo "missing $b: build it first (cmake --build $BUILD)" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "needs the openssl command (apt-get install openssl) to sign tokens" >&2; exit 1; }
WORK=$(mktemp -d)
ADMIN=run-sh-admin-secret
JWT_SECRET=run-sh-jwt-secret
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Starts a program in the background (its pid is kept for the cleanup).
launch() {  # name, command...
  local name=$1; shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  pids+=($!)
}
# HOST:PORT from a started program's first stdout line "listening on HOST:PORT".
address() {  # name
  for _ in $(seq 100); do
    if grep -q '^listening on' "$WORK/$1.out" 2>/dev/null; then
      sed -n 's/^listening on //p' "$WORK/$1.out" | head -1; return; fi
    sleep 0.1
  done
  echo "$1 did not start: $(cat "$WORK/$1.log")" >&2; exit 1
}

launch eventflow "$EVENTFLOW" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 --bootstrap-key "$ADMIN"
EF=$(address eventflow)
echo "EventFlow on $EF"
api() { curl -s -X "$1" "http://$EF$2" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
KEY=$ADMIN
KEY=$(api POST /api/v1/admin/api-keys '{"org_id":"acme","name":"task-service"}' | sed 's/.*"api_key":"\([^"]*\)".*/\1/')
api POST /api/v1/streams '{"name":"workflow.task.created","schema":{"type":"object","additionalProperties":false,
  "required":["organizationId","projectId","taskId","title","createdBy","createdAt","userId"],
  "properties":{"organizationId":{"type":"string"},"projectId":{"type":"string"},"taskId":{"type":"string"},
  "title":{"type":"string","minLength":1},"createdBy":{"type":"string"},"createdAt":{"type":"string"},
  "userId":{"type":"string"}}}}' >/dev/null
for s in organization.member.added organization.member.removed billing.entitlements.updated; do
  api POST /api/v1/streams "{\"name\":\"$s\"}" >/dev/null
done
api POST /api/v1/streams/organization.member.added/events \
  '{"event_type":"MemberAdded","payload":{"organizationId":"org-1","userId":"alice"}}' >/dev/null
api POST /api/v1/streams/billing.entitlements.updated/events \
  '{"event_type":"EntitlementsUpdated","payload":{"organizationId":"org-1","maxTasks":3}}' >/dev/null

launch service "$SERVICE" --listen 127.0.0.1:0 --db "$WORK/service.db" --server "$EF" \
  --api-key "$KEY" --jwt-secret "$JWT_SECRET"
SVC=$(address service)
echo "task service on $SVC"
for role in audit analytics notification; do
  "$CONSUMER" --role $role --db "$WORK/$role.db" --server "$EF" --api-key "$KEY" \
    >"$WORK/$role.out" 2>&1 &
  pids+=($!)
done
sleep 1.5  # the service's caches take in the membership and plan events

b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
token() {  # user
  local h p s
  h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
  p=$(printf '{"sub":"%s","exp":%d}' "$1" $(( $(date +%s) + 600 )) | b64)
  s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -hmac "$JWT_SECRET" -binary | b64)
  echo "$h.$p.$s"
}
task() {  # user title
  curl -s -o /dev/null -w "%{http_code}" -X POST "http://$SVC/workflow/tasks" \
    -H "Authorization: Bearer $(token "$1")" -H 'Content-Type: application/json' \
    -H "X-Correlation-ID: run-sh-$2" \
    -H "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e47$(printf '%02x' $RANDOM | cut -c1-2)-00f067aa0ba902b7-01" \
    -d "{\"organizationId\":\"org-1\",\"projectId\":\"p-1\",\"title\":\"$2\"}"
}
for t in "write-docs" "fix-bug" "ship-it"; do echo "alice creates $t: $(task alice $t)"; done
echo "alice creates a 4th task (plan allows 3): $(task alice one-too-many)"
echo "mallory (not a member) creates a task: $(task mallory nope)"
sleep 2
for role in audit analytics notification; do echo "--- $role"; cat "$WORK/$role.out"; done
echo "--- relay metrics"; curl -s "http://$SVC/metrics" | grep -v '^#'
