#!/usr/bin/env bash
# Installs what is missing, builds Release and starts the server on
# 127.0.0.1:8080 with its data in ./data. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
exec ./build/release/cli/eventflow serve --data-dir ./data --listen 127.0.0.1:8080 "$@"
