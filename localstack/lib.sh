# shellcheck shell=bash
# Shared by localstack/start.sh and localstack/stop.sh (sourced, never run).
#
# One LocalStack serves every checkout on the machine. Everything it owns (venv, FILESYSTEM_ROOT, pid file, log,
# lock, launch fingerprint) lives in the user's cache folder, never in a checkout: a clone that is deleted or
# `git clean -fdx`-ed must not take the shared LocalStack's state with it.

readonly LOCALSTACK_VERSION=4.13.1
readonly LOCALSTACK_PORT=4566
readonly HEALTH_URL=http://127.0.0.1:$LOCALSTACK_PORT/_localstack/health

readonly CACHE_ROOT=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/upload-pipeline
readonly VENV=${LOCALSTACK_VENV:-$CACHE_ROOT/localstack-$LOCALSTACK_VERSION}
readonly STATE_DIR=$CACHE_ROOT/localstack-state
readonly LOG_FILE=$STATE_DIR/localstack.log
readonly PID_FILE=$STATE_DIR/localstack.pid
readonly LOCK_FILE=$STATE_DIR/start.lock
readonly FINGERPRINT_FILE=$STATE_DIR/launch.fingerprint
CONSTRAINTS=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)/constraints.txt
readonly CONSTRAINTS

# The launch settings (DESIGN.md, "Machines here"). OVERRIDE_IN_DOCKER=0 and DNS_ADDRESS=0 are not optional:
# without them LocalStack believes it runs in a container, binds port 53 and rewrites /etc/resolv.conf, breaking
# name resolution for the whole machine. S3_SKIP_SIGNATURE_VALIDATION=0 makes LocalStack check presigned-URL
# signatures and expiry as S3 does (multipart part URLs depend on it).
readonly LAUNCH_SETTINGS=(
  OVERRIDE_IN_DOCKER=0
  DNS_ADDRESS=0
  GATEWAY_LISTEN=127.0.0.1:$LOCALSTACK_PORT
  LOCALSTACK_HOST=127.0.0.1:$LOCALSTACK_PORT
  SERVICES=s3,sqs,events
  EAGER_SERVICE_LOADING=1
  SQS_ENDPOINT_STRATEGY=path
  S3_SKIP_SIGNATURE_VALIDATION=0
  DISABLE_EVENTS=1
  SKIP_SSL_CERT_DOWNLOAD=1
  "FILESYSTEM_ROOT=$STATE_DIR/fs"
)

log() { printf 'localstack: %s\n' "$*" >&2; }
die() { printf 'localstack: error: %s\n' "$*" >&2; exit 1; }

# Every launch setting, the interpreter and the pinned Python packages: a LocalStack started with anything else is
# restarted (and its venv rebuilt when the pins changed), not reused.
launch_fingerprint() {
  { printf '%s\n' "$VENV/bin/python" "${LAUNCH_SETTINGS[@]}"; sha256sum <"$CONSTRAINTS"; } | sha256sum | cut -d' ' -f1
}

wanted_services() {
  local setting
  for setting in "${LAUNCH_SETTINGS[@]}"; do
    if [[ $setting == SERVICES=* ]]; then tr ',' ' ' <<<"${setting#SERVICES=}"; fi
  done
}

pid_cmdline() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | sed 's/ $//'; }

# The project's LocalStack is a venv python under the project's cache folder running localstack.runtime.main. Any
# localstack-<version> venv counts, so a LocalStack left over from an older pin is recognised and restarted.
is_project_pid() {
  local cmd
  cmd=$(pid_cmdline "$1") || return 1
  [[ $cmd == "$CACHE_ROOT"/localstack-*/bin/python*" -m localstack.runtime.main" ]]
}

project_pids() {
  local dir pid
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    if is_project_pid "$pid"; then printf '%s\n' "$pid"; fi
  done
}

# The pid listening on the port; "?" when something listens but its pid cannot be seen (another user's process).
listener_pid() {
  local out pid=""
  if command -v ss >/dev/null 2>&1; then
    out=$(ss -Hltnp "sport = :$LOCALSTACK_PORT" 2>/dev/null || true)
    [[ -n $out ]] || return 0
    pid=$(grep -Eo 'pid=[0-9]+' <<<"$out" | head -n1 | cut -d= -f2)
  elif command -v lsof >/dev/null 2>&1; then
    pid=$(lsof -t -nP -iTCP:"$LOCALSTACK_PORT" -sTCP:LISTEN 2>/dev/null | head -n1)
    if [[ -z $pid ]] && ! curl -sS --max-time 2 -o /dev/null "http://127.0.0.1:$LOCALSTACK_PORT/" 2>/dev/null; then
      return 0
    fi
  elif ! curl -sS --max-time 2 -o /dev/null "http://127.0.0.1:$LOCALSTACK_PORT/" 2>/dev/null; then
    return 0
  fi
  printf '%s\n' "${pid:-?}"
}

foreign_listener_message() {
  local pid=$1
  if [[ $pid == '?' ]]; then
    printf 'something else listens on 127.0.0.1:%s (its pid is not visible to %s; see: ss -ltnp "sport = :%s").' \
      "$LOCALSTACK_PORT" "$(id -un)" "$LOCALSTACK_PORT"
  else
    printf 'port %s is held by pid %s, which is not the project LocalStack: %s.' \
      "$LOCALSTACK_PORT" "$pid" "$(pid_cmdline "$pid" || echo '?')"
  fi
  printf ' Stop that process (or free port %s), then run localstack/start.sh again.' "$LOCALSTACK_PORT"
}

# "ok", or why not: "no answer", "HTTP <code>", "missing <service…>".
health_state() {
  local body code missing="" service
  body=$(curl -sS --max-time 2 -w '\n%{http_code}' "$HEALTH_URL" 2>/dev/null) || { echo "no answer"; return; }
  code=${body##*$'\n'}
  body=${body%$'\n'*}
  if [[ $code != 200 ]]; then echo "HTTP $code"; return; fi
  for service in $(wanted_services); do
    grep -Eq "\"$service\": *\"(running|available)\"" <<<"$body" || missing+=" $service"
  done
  if [[ -n $missing ]]; then echo "missing$missing"; else echo ok; fi
}

# Serialise start and stop across every checkout (the lock is machine-wide, like the LocalStack it guards).
take_lock() {
  mkdir -p "$STATE_DIR"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$LOCK_FILE"
  flock -w "$1" 9 || die "timed out after $1 s waiting for another start.sh or stop.sh ($LOCK_FILE)"
}

release_lock() { exec 9>&-; }

# SIGTERM, then SIGKILL after the timeout.
stop_pid() {
  local pid=$1 timeout=${LOCALSTACK_STOP_TIMEOUT:-30}
  log "stopping LocalStack pid $pid"
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + timeout))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "pid $pid still running after ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
}

stop_all_project_pids() {
  local pid stopped=1
  for pid in $(project_pids); do
    stop_pid "$pid"
    stopped=0
  done
  rm -f "$PID_FILE" "$FINGERPRINT_FILE"
  return $stopped
}
