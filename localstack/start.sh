#!/usr/bin/env bash
# Start the machine's one LocalStack on the host (no Docker) from a pinned PyPI install, then provision the bucket
# and queues. Run from any checkout: a healthy LocalStack launched with the wanted settings is reused (from any
# checkout); one that is unhealthy (health 500, a service missing) or was launched with other settings is restarted.
# A foreign process on port 4566 is named, never killed.
#
#   bash localstack/start.sh                      # start (if needed) + provision
#   LOCALSTACK_SKIP_PROVISION=1 bash localstack/start.sh
#
# Environment:
#   LOCALSTACK_VENV           venv location (default: ${XDG_CACHE_HOME:-$HOME/.cache}/upload-pipeline/localstack-4.13.1)
#   LOCALSTACK_PYTHON         interpreter used to create the venv (default: python3.11, else python3)
#   LOCALSTACK_START_TIMEOUT  seconds to wait for health (default: 120)
#   LOCALSTACK_SKIP_PROVISION set to 1 to skip localstack/provision.ts
# State, pid file, log, lock and launch fingerprint: ${XDG_CACHE_HOME:-$HOME/.cache}/upload-pipeline/localstack-state/
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO_ROOT
# shellcheck source=localstack/lib.sh
source "$SCRIPT_DIR/lib.sh"

# base-runtime leaves out the `runtime` extra; the EventBridge provider needs two of its packages (moto-ext for the
# event store, crontab for schedules), versions pinned in constraints.txt.
readonly PYTHON_REQUIREMENTS=("localstack-core[base-runtime]==$LOCALSTACK_VERSION" moto-ext crontab)
readonly STAMP=$VENV/.upload-pipeline-constraints.sha256
readonly START_TIMEOUT=${LOCALSTACK_START_TIMEOUT:-120}
# How long a LocalStack with the right settings that answers but is not yet healthy gets before it is restarted.
readonly SETTLE_SECONDS=20

command -v curl >/dev/null 2>&1 || die "curl is not installed (apt-get install -y curl)"

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
  log "installing ${PYTHON_REQUIREMENTS[*]} into $VENV (python: $("$python" --version 2>&1))"
  mkdir -p "$(dirname -- "$VENV")"
  # --clear: a changed constraints file gets a fresh venv, not an upgrade on top of the old one.
  "$python" -m venv --clear "$VENV" || die "could not create a venv at $VENV"
  local pip_log=$STATE_DIR/pip-install.log
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
      -c "$CONSTRAINTS" "${PYTHON_REQUIREMENTS[@]}" >"$pip_log" 2>&1; then
    grep -v 'is ignored: it is neither a file nor a directory' "$pip_log" | tail -n 30 >&2 || true
    die "pip install failed (full log: $pip_log)"
  fi
  printf '%s\n' "$want" >"$STAMP"
}

launch() {
  mkdir -p "$STATE_DIR/fs"
  log "starting LocalStack $LOCALSTACK_VERSION on 127.0.0.1:$LOCALSTACK_PORT (state and log: $STATE_DIR)"
  printf '\n==== %s start.sh (%s): starting LocalStack %s\n' "$(date -u +%FT%TZ)" "$REPO_ROOT" "$LOCALSTACK_VERSION" >>"$LOG_FILE"
  # setsid + nohup: the server outlives this script and the terminal or CI step that ran it. cd /: its working
  # directory must not be a checkout that may be deleted. 9>&-: it must not inherit (and hold) the lock.
  (cd / && exec env "${LAUNCH_SETTINGS[@]}" setsid nohup "$VENV/bin/python" -m localstack.runtime.main \
    </dev/null >>"$LOG_FILE" 2>&1 9>&-) &
  printf '%s\n' "$!" >"$PID_FILE"
  launch_fingerprint >"$FINGERPRINT_FILE"
}

wait_healthy() {
  local pid=$1 timeout=$2 deadline=$((SECONDS + $2)) state
  while true; do
    state=$(health_state)
    [[ $state == ok ]] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "exited before it became healthy"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "$state after ${timeout}s"
      return 1
    fi
    sleep 0.5
  done
}

# Ours, launched by this script with today's settings: the pid file names it and the fingerprint matches.
launched_as_wanted() {
  local pid=$1
  [[ -f $PID_FILE && -f $FINGERPRINT_FILE ]] || return 1
  [[ $(<"$PID_FILE") == "$pid" && $(<"$FINGERPRINT_FILE") == "$(launch_fingerprint)" ]]
}

# Leaves a healthy LocalStack with the wanted settings listening, or dies saying why not.
ensure_running() {
  local pid state
  pid=$(listener_pid)
  if [[ -n $pid ]]; then
    if [[ $pid == '?' ]] || ! is_project_pid "$pid"; then
      die "$(foreign_listener_message "$pid")"
    fi
    if launched_as_wanted "$pid"; then
      state=$(health_state)
      # A 500 is a broken LocalStack (e.g. its FILESYSTEM_ROOT vanished), not a slow one.
      if [[ $state != ok && $state != HTTP* ]]; then
        state=$(wait_healthy "$pid" "$SETTLE_SECONDS") && state=ok
      fi
      if [[ $state == ok ]]; then
        log "reusing LocalStack pid $pid"
        return 0
      fi
      log "LocalStack pid $pid is unhealthy ($state); restarting it"
    else
      log "LocalStack pid $pid was not started with the wanted settings (see $FINGERPRINT_FILE); restarting it"
    fi
  fi
  # Also any project LocalStack that never got as far as listening.
  stop_all_project_pids || true
  [[ -z $(listener_pid) ]] || die "$(foreign_listener_message "$(listener_pid)")"

  ensure_venv
  launch
  pid=$(<"$PID_FILE")
  local started=$SECONDS
  if ! state=$(wait_healthy "$pid" "$START_TIMEOUT"); then
    tail -n 40 "$LOG_FILE" >&2 || true
    die "LocalStack pid $pid is not healthy at $HEALTH_URL: $state (log: $LOG_FILE)"
  fi
  log "healthy after $((SECONDS - started))s (pid $pid)"
}

main() {
  # Concurrent starts (two test runners, two checkouts) launch at most one LocalStack.
  take_lock "$((START_TIMEOUT + 60))"
  ensure_running
  release_lock
  provision
}

main "$@"
