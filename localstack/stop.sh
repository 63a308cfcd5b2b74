#!/usr/bin/env bash
# Stop the machine's LocalStack (the one localstack/start.sh runs), whichever checkout started it: SIGTERM, wait,
# SIGKILL after LOCALSTACK_STOP_TIMEOUT (default 30) seconds. It is found by its command line, not only by the pid
# file, so a LocalStack whose pid file is gone still stops. Idempotent: exits 0 when none runs. A foreign process
# on port 4566 is named and left alone.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
# shellcheck source=localstack/lib.sh
source "$SCRIPT_DIR/lib.sh"

take_lock "${LOCALSTACK_STOP_TIMEOUT:-30}"
if stop_all_project_pids; then
  log "stopped"
else
  log "not running"
fi
pid=$(listener_pid)
if [[ -n $pid ]]; then
  log "note: $(foreign_listener_message "$pid")"
fi
