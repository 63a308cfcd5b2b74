#!/usr/bin/env bash
# Ensure a clamd for malware scanning answers on 127.0.0.1:$CLAMD_PORT (default 3310), starting one when it does not.
# One per machine, like LocalStack: its config, signatures, pid and log live in the machine-wide cache folder, so
# every checkout shares it and a cleaned clone cannot break it.
#
#   bash scripts/clamd.sh          # install (if needed) + start (if needed)
#   bash scripts/clamd.sh --print-dir
#
# The signature database is ONLY the project's test signature (EICAR, as an MD5 hash signature): this machine
# has no route to ClamAV's mirrors. Wherever the internet is reachable, real signatures come from `freshclam`
# (point its DatabaseDirectory at the same folder, or drop this DatabaseDirectory); see docs/SECURITY.md.
set -euo pipefail

readonly PORT=${CLAMD_PORT:-3310}
readonly DIR=${CLAMD_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/upload-pipeline/clamav}
readonly CONF=$DIR/clamd.conf
readonly DB_DIR=$DIR/db
readonly PID_FILE=$DIR/clamd.pid
readonly LOG_FILE=$DIR/clamd.log
readonly START_TIMEOUT=${CLAMD_START_TIMEOUT:-60}
REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT

log() { printf 'clamd: %s\n' "$*" >&2; }
die() { printf 'clamd: error: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} == --print-dir ]]; then printf '%s\n' "$DIR"; exit 0; fi

# zPING over TCP, answered by PONG\0. bash's /dev/tcp keeps this free of netcat variants.
ping_clamd() {
  local reply
  exec 8<>"/dev/tcp/127.0.0.1/$PORT" || return 1
  printf 'zPING\0' >&8
  reply=$(timeout 2 head -c 4 <&8 || true)
  exec 8<&- 8>&-
  [[ $reply == PONG ]]
}

ensure_packages() {
  command -v clamd >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 || die "clamd is not installed and apt-get is missing (install ClamAV's clamd 1.x)"
  [[ $(id -u) == 0 ]] || die "clamd is not installed: run 'apt-get install -y clamav-daemon clamav' as root"
  log "installing Debian's clamav-daemon and clamav"
  # Lists emptied (e.g. by a slim image): refresh them first.
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then apt-get update -qq; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clamav-daemon clamav >/dev/null \
    || die "apt-get install clamav-daemon clamav failed"
}

# clamd's limits come from lib/settings.ts, which the pipeline's scanner reads too: CLAMD_SCAN_MAX_BYTES (also the
# default MALWARE_SCAN_MAX_BYTES) and CLAMD_MAX_SCAN_TIME_MS. CLAMD_STREAM_MAX_LENGTH overrides the first (a test's
# own small-limit clamd).
settings() {
  (cd "$REPO_ROOT" && node --import tsx/esm --input-type=module \
    --eval "const s = await import('./lib/settings.ts'); console.log(s.CLAMD_SCAN_MAX_BYTES, s.CLAMD_MAX_SCAN_TIME_MS)") \
    || die "cannot read the clamd settings from lib/settings.ts (run npm ci first)"
}

# Writes the wanted config to $1.
render_config() {
  local values stream_max scan_time
  values=$(settings)
  read -r stream_max scan_time <<<"$values"
  stream_max=${CLAMD_STREAM_MAX_LENGTH:-$stream_max}
  # Compared with the running one on every run, so a changed limit or port restarts it. Foreground, and no PidFile:
  # this script supervises the pid and owns its file (clamd rewriting it raced with the script's reads), and
  # Debian's systemd unit refuses to start without the official main/daily DBs.
  cat >"$1" <<EOF
Foreground yes
TCPSocket $PORT
TCPAddr 127.0.0.1
DatabaseDirectory $DB_DIR
LogFile $LOG_FILE
LogTime yes
# Limits are explicit: what the stream may carry and what the engine may scan. Past any of them clamd
# would answer OK, unless AlertExceedsMax turns that into Heuristics.Limits.Exceeded.* FOUND.
StreamMaxLength $stream_max
MaxFileSize $stream_max
MaxScanSize $stream_max
MaxScanTime $scan_time
AlertExceedsMax yes
MaxThreads 4
ReadTimeout 30
CommandReadTimeout 10
SelfCheck 0
EOF
}

running_pid() {
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q clamd || return 1
  printf '%s\n' "$pid"
}

main() {
  mkdir -p "$DB_DIR"
  # EICAR's MD5 and length (68 bytes), the hash signature ClamAV's official database uses (Win.Test.EICAR_HDB-1).
  # A detection reports as Eicar-Test-Signature.UNOFFICIAL. The EICAR file itself is built by the tests.
  printf '%s\n' '44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature' >"$DB_DIR/upload-pipeline-test.hdb"
  render_config "$CONF.want"
  # A clamd of ours started from another config (an older limit, say) is restarted; a foreign one is left alone.
  if ping_clamd 2>/dev/null && { cmp -s "$CONF.want" "$CONF" || ! running_pid >/dev/null; }; then return 0; fi
  ensure_packages
  exec 9>"$DIR/start.lock"
  flock -w "$((START_TIMEOUT + 30))" 9 || die "timed out waiting for another clamd.sh ($DIR/start.lock)"

  local pid
  if pid=$(running_pid) && ! cmp -s "$CONF.want" "$CONF"; then
    log "restarting clamd (pid $pid): its config changed"
    kill "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      ((SECONDS < deadline)) || die "clamd (pid $pid) did not stop within 30s"
      sleep 0.2
    done
  fi
  if ping_clamd 2>/dev/null; then return 0; fi

  local launched=''
  if ! running_pid >/dev/null; then
    mv "$CONF.want" "$CONF"
    log "starting clamd on 127.0.0.1:$PORT (config: $CONF, log: $LOG_FILE)"
    # setsid + nohup: clamd outlives this script and the test run or terminal that started it.
    setsid nohup clamd --foreground --config-file="$CONF" </dev/null >>"$DIR/clamd.out" 2>&1 9>&- &
    launched=$!
    printf '%s\n' "$launched" >"$PID_FILE"
  fi
  local deadline=$((SECONDS + START_TIMEOUT))
  until ping_clamd 2>/dev/null; do
    # The process just launched is watched by its pid alone: while it execs setsid, nohup and clamd, its
    # /proc cmdline can read empty, which running_pid would take for an exit.
    if { [[ -n $launched ]] && ! kill -0 "$launched" 2>/dev/null; } || { [[ -z $launched ]] && ! running_pid >/dev/null; }; then
      local status='' rc=0
      if [[ -n $launched ]]; then
        wait "$launched" || rc=$?
        status=" with status $rc"
      fi
      tail -n 20 "$DIR/clamd.out" "$LOG_FILE" >&2 2>/dev/null || true
      die "clamd exited$status before answering PING (log: $LOG_FILE)"
    fi
    ((SECONDS < deadline)) || die "clamd did not answer PING within ${START_TIMEOUT}s (log: $LOG_FILE)"
    sleep 0.2
  done
  log "clamd answers on 127.0.0.1:$PORT"
}

main "$@"
