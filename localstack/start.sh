#!/usr/bin/env bash
# Start LocalStack on the host (no Docker) from a pinned PyPI install, then provision the bucket and queues.
# Idempotent: when LocalStack already answers healthy on 127.0.0.1:4566 it only provisions.
#
#   bash localstack/start.sh                      # start (if needed) + provision
#   LOCALSTACK_SKIP_PROVISION=1 bash localstack/start.sh
#
# Environment:
#   LOCALSTACK_VENV           venv location (default: ${XDG_CACHE_HOME:-$HOME/.cache}/upload-pipeline/localstack-4.13.1)
#   LOCALSTACK_PYTHON         interpreter used to create the venv (default: python3.11, else python3)
#   LOCALSTACK_START_TIMEOUT  seconds to wait for health (default: 120)
#   LOCALSTACK_SKIP_PROVISION set to 1 to skip localstack/provision.ts
set -euo pipefail

readonly LOCALSTACK_VERSION=4.13.1
readonly HEALTH_URL=http://127.0.0.1:4566/_localstack/health

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO_ROOT
readonly STATE_DIR=$REPO_ROOT/.localstack
readonly LOG_FILE=$STATE_DIR/localstack.log
readonly PID_FILE=$STATE_DIR/localstack.pid
readonly CONSTRAINTS=$SCRIPT_DIR/constraints.txt
readonly VENV=${LOCALSTACK_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/upload-pipeline/localstack-$LOCALSTACK_VERSION}
readonly STAMP=$VENV/.upload-pipeline-constraints.sha256
readonly START_TIMEOUT=${LOCALSTACK_START_TIMEOUT:-120}

log() { printf 'localstack: %s\n' "$*" >&2; }
die() { printf 'localstack: error: %s\n' "$*" >&2; exit 1; }

command -v curl >/dev/null 2>&1 || die "curl is not installed (apt-get install -y curl)"

# Healthy = the gateway answers and both s3 and sqs are "running" (eager loading) or "available" (lazy).
is_healthy() {
  local body
  body=$(curl -fsS --max-time 2 "$HEALTH_URL" 2>/dev/null) || return 1
  grep -Eq '"s3": *"(running|available)"' <<<"$body" && grep -Eq '"sqs": *"(running|available)"' <<<"$body"
}

# Our own process, still alive (guards against a stale pid file or a recycled pid).
running_pid() {
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'localstack.runtime.main' || return 1
  printf '%s\n' "$pid"
}

provision() {
  if [[ ${LOCALSTACK_SKIP_PROVISION:-0} == 1 ]]; then return 0; fi
  local tsx=$REPO_ROOT/node_modules/.bin/tsx
  [[ -x $tsx ]] || die "node_modules/.bin/tsx not found: run 'npm ci' in $REPO_ROOT first"
  # The SDK warns on every run that Node 20 loses support in 2027; that is noise here.
  (cd "$REPO_ROOT" && AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=${AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:-true} "$tsx" localstack/provision.ts)
}

pick_python() {
  local candidate
  for candidate in ${LOCALSTACK_PYTHON:-} python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
      && "$candidate" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  local want have=""
  want=$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)
  [[ -f $STAMP ]] && have=$(<"$STAMP")
  if [[ -x $VENV/bin/python && $have == "$want" ]]; then return 0; fi

  local python
  python=$(pick_python) || die "Python >= 3.10 with the venv module is required (apt-get install -y python3 python3-venv); 3.11 is what constraints.txt pins"
  log "installing localstack-core[base-runtime]==$LOCALSTACK_VERSION into $VENV (python: $("$python" --version 2>&1))"
  mkdir -p "$(dirname -- "$VENV")"
  # --clear: a changed constraints file gets a fresh venv, not an upgrade on top of the old one.
  "$python" -m venv --clear "$VENV" || die "could not create a venv at $VENV"
  local pip_log=$STATE_DIR/pip-install.log
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
      -c "$CONSTRAINTS" "localstack-core[base-runtime]==$LOCALSTACK_VERSION" >"$pip_log" 2>&1; then
    grep -v 'is ignored: it is neither a file nor a directory' "$pip_log" | tail -n 30 >&2 || true
    die "pip install failed (full log: $pip_log)"
  fi
  printf '%s\n' "$want" >"$STAMP"
}

launch() {
  mkdir -p "$STATE_DIR/fs"
  log "starting LocalStack $LOCALSTACK_VERSION on 127.0.0.1:4566 (log: $LOG_FILE)"
  printf '\n==== %s start.sh: starting LocalStack %s\n' "$(date -u +%FT%TZ)" "$LOCALSTACK_VERSION" >>"$LOG_FILE"
  # OVERRIDE_IN_DOCKER=0 and DNS_ADDRESS=0 are not optional: without them LocalStack believes it runs in a
  # container, binds port 53 and rewrites /etc/resolv.conf, breaking name resolution for the whole machine.
  # setsid + nohup: the server outlives this script and the terminal or CI step that ran it.
  env \
    OVERRIDE_IN_DOCKER=0 \
    DNS_ADDRESS=0 \
    GATEWAY_LISTEN=127.0.0.1:4566 \
    LOCALSTACK_HOST=127.0.0.1:4566 \
    SERVICES=s3,sqs \
    EAGER_SERVICE_LOADING=1 \
    SQS_ENDPOINT_STRATEGY=path \
    FILESYSTEM_ROOT="$STATE_DIR/fs" \
    DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    setsid nohup "$VENV/bin/python" -m localstack.runtime.main </dev/null >>"$LOG_FILE" 2>&1 9>&- &
  printf '%s\n' "$!" >"$PID_FILE"
}

wait_healthy() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until is_healthy; do
    if ! running_pid >/dev/null; then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "LocalStack exited before it became healthy (log: $LOG_FILE)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "LocalStack not healthy after ${START_TIMEOUT}s at $HEALTH_URL (log: $LOG_FILE, pid $(<"$PID_FILE"))"
    fi
    sleep 0.5
  done
}

main() {
  if is_healthy; then
    provision
    return 0
  fi

  mkdir -p "$STATE_DIR"
  # Serialize concurrent starts (e.g. two test runners) so only one LocalStack is launched.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE_DIR/start.lock"
    flock -w "$((START_TIMEOUT + 60))" 9 || die "timed out waiting for another start.sh ($STATE_DIR/start.lock)"
  fi

  if ! is_healthy; then
    if running_pid >/dev/null; then
      log "LocalStack (pid $(running_pid)) is starting; waiting for it"
    else
      if curl -sS --max-time 2 -o /dev/null http://127.0.0.1:4566/ 2>/dev/null; then
        die "something already listens on 127.0.0.1:4566 but $HEALTH_URL does not report s3 and sqs; stop it first"
      fi
      ensure_venv
      launch
    fi
    local started=$SECONDS
    wait_healthy
    log "healthy after $((SECONDS - started))s"
  fi
  provision
}

main "$@"
