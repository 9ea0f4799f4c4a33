#!/usr/bin/env bash
# Installs what is missing, builds Release and starts the server. Its own
# defaults apply: 127.0.0.1:8080, data in ./data (relative to the checkout),
# unless EVENTFLOW_LISTEN / EVENTFLOW_DATA_DIR (or any EVENTFLOW_* setting,
# docs/api.md) or extra arguments, which go to `serve`, say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
exec ./build/release/cli/eventflow serve "$@"
