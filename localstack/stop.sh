#!/usr/bin/env bash
# Stop the host-mode LocalStack started by localstack/start.sh: SIGTERM via the pid file, wait for exit.
# Idempotent: exits 0 when it is not running.
#   LOCALSTACK_STOP_TIMEOUT  seconds to wait after SIGTERM before SIGKILL (default: 30)
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
readonly PID_FILE=$REPO_ROOT/.localstack/localstack.pid
readonly STOP_TIMEOUT=${LOCALSTACK_STOP_TIMEOUT:-30}

log() { printf 'localstack: %s\n' "$*" >&2; }

if [[ ! -f $PID_FILE ]]; then
  log "not running (no $PID_FILE)"
  exit 0
fi
pid=$(<"$PID_FILE")
# Only signal our own LocalStack: a stale pid file may name a pid that now belongs to something else.
if ! [[ $pid =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null \
  || ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main'; then
  log "not running (stale pid file)"
  rm -f "$PID_FILE"
  exit 0
fi

log "stopping pid $pid"
kill -TERM "$pid"
deadline=$((SECONDS + STOP_TIMEOUT))
while kill -0 "$pid" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    log "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
    break
  fi
  sleep 0.2
done
rm -f "$PID_FILE"
log "stopped"
