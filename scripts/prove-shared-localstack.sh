#!/usr/bin/env bash
# Shows that one LocalStack serves every checkout on the machine (issue 15), with the project's own scripts:
#
#   1. stop it from this checkout;
#   2. start it from a throwaway second clone, then delete that clone;
#   3. start.sh here reuses that very process (same pid), healthy and provisioned, and `npm start` serves /health;
#   4. a foreign process on 4566 is named (pid, command), not killed;
#   5. `npm run localstack:stop` here stops it even without its pid file; start.sh here starts it again.
#
#   bash scripts/prove-shared-localstack.sh               # all of it (.ci/run, before npm test)
#   bash scripts/prove-shared-localstack.sh --reuse-only  # no stop or restart: the clone's start.sh must reuse the
#                                                         # running LocalStack; safe while other test runs are going
#
# Stopping LocalStack drops its in-memory buckets and queues, so the full form must not run while another test run
# uses this machine's LocalStack. Needs the services and node_modules that scripts/bootstrap.sh sets up.
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT
# shellcheck source=localstack/lib.sh
source "$REPO_ROOT/localstack/lib.sh"

reuse_only=0
case ${1:-} in
  --reuse-only) reuse_only=1 ;;
  '') ;;
  *) echo "usage: $0 [--reuse-only]" >&2; exit 2 ;;
esac

step() { printf '\nprove: %s\n' "$*" >&2; }
fail() { printf 'prove: FAILED: %s\n' "$*" >&2; exit 1; }
pass() { printf 'prove: ok: %s\n' "$*" >&2; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/upload-pipeline-prove.XXXXXX")
child=""
cleanup() {
  if [[ -n $child ]]; then kill -TERM -- "-$child" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

free_port() { node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'; }

# Polls until `curl $1` answers with status $2, for up to $3 seconds.
wait_for_status() {
  local url=$1 want=$2 deadline=$((SECONDS + $3)) code
  while ((SECONDS < deadline)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null || true)
    [[ $code == "$want" ]] && return 0
    sleep 0.5
  done
  return 1
}

running_pid() {
  local pid
  pid=$(listener_pid)
  [[ -n $pid && $pid != '?' ]] && is_project_pid "$pid" && printf '%s\n' "$pid"
}

bash "$REPO_ROOT/localstack/start.sh" >/dev/null
before=$(running_pid) || fail "localstack/start.sh here did not leave the project's LocalStack listening"

if ((reuse_only == 0)); then
  step "1. stop it from this checkout (npm run localstack:stop)"
  (cd "$REPO_ROOT" && npm run -s localstack:stop)
  [[ -z $(listener_pid) ]] || fail "port $LOCALSTACK_PORT still answers after stop.sh"
  kill -0 "$before" 2>/dev/null && fail "pid $before still runs after stop.sh"
  pass "pid $before stopped, port $LOCALSTACK_PORT free"
fi

step "2. start it from a second clone, then delete the clone"
clone=$scratch/second-clone
git clone -q "$REPO_ROOT" "$clone"
# The clone provisions with this checkout's packages; a fresh npm ci would only cost time.
ln -s "$REPO_ROOT/node_modules" "$clone/node_modules"
bash "$clone/localstack/start.sh" >/dev/null
from_clone=$(running_pid) || fail "the clone's start.sh did not leave the project's LocalStack listening"
if ((reuse_only == 1)); then
  [[ $from_clone == "$before" ]] || fail "the clone's start.sh replaced a healthy LocalStack (pid $before -> $from_clone)"
  pass "the clone's start.sh reused pid $from_clone"
else
  pass "the clone's start.sh started pid $from_clone"
fi
if [[ $(readlink "/proc/$from_clone/cwd") == "$clone"* ]] \
  || tr '\0' '\n' <"/proc/$from_clone/environ" | grep -q "^FILESYSTEM_ROOT=$clone"; then
  fail "pid $from_clone keeps its working directory or FILESYSTEM_ROOT in the clone"
fi
rm -rf "$clone"
[[ ! -e $clone ]] || fail "could not delete $clone"
pass "clone deleted"

step "3. this checkout reuses it: same pid, healthy, provisioned; npm start serves /health"
bash "$REPO_ROOT/localstack/start.sh" >/dev/null
[[ $(running_pid) == "$from_clone" ]] || fail "start.sh here did not reuse pid $from_clone (now: $(running_pid || echo none))"
[[ $(health_state) == ok ]] || fail "LocalStack is not healthy: $(health_state)"
pass "start.sh reused pid $from_clone; health ok; provisioned"
port=$(free_port)
# setsid: npm start and its children form one process group, stopped together below.
setsid env PORT="$port" npm --prefix "$REPO_ROOT" start >"$scratch/npm-start.log" 2>&1 &
child=$!
if ! wait_for_status "http://127.0.0.1:$port/health" 200 120; then
  tail -n 30 "$scratch/npm-start.log" >&2
  fail "npm start did not answer GET /health with 200 on port $port"
fi
kill -TERM -- "-$child" 2>/dev/null || true
wait "$child" 2>/dev/null || true
child=""
pass "npm start answered GET /health 200 (every check, storage and queue included)"

if ((reuse_only == 1)); then
  step "done (--reuse-only: steps 4 and 5 skipped)"
  exit 0
fi

step "4. a foreign process on port $LOCALSTACK_PORT is named, not killed"
(cd "$REPO_ROOT" && npm run -s localstack:stop)
setsid node -e "require('node:http').createServer((q, s) => s.end('not localstack')).listen($LOCALSTACK_PORT, '127.0.0.1')" &
child=$!
wait_for_status "http://127.0.0.1:$LOCALSTACK_PORT/" 200 10 || fail "the stand-in listener did not start"
if LOCALSTACK_SKIP_PROVISION=1 bash "$REPO_ROOT/localstack/start.sh" 2>"$scratch/foreign.err"; then
  fail "start.sh accepted a foreign process on port $LOCALSTACK_PORT"
fi
grep -q "pid $child" "$scratch/foreign.err" || { cat "$scratch/foreign.err" >&2; fail "start.sh did not name pid $child"; }
grep -q "node -e" "$scratch/foreign.err" || { cat "$scratch/foreign.err" >&2; fail "start.sh did not name the command"; }
kill -0 "$child" 2>/dev/null || fail "start.sh killed the foreign process"
pass "$(sed 's/^localstack: error: //' "$scratch/foreign.err")"
kill -TERM -- "-$child" 2>/dev/null || true
wait "$child" 2>/dev/null || true
child=""

step "5. npm run localstack:stop here stops it, even without its pid file; start.sh here starts it again"
bash "$REPO_ROOT/localstack/start.sh" >/dev/null
started=$(running_pid) || fail "start.sh did not start LocalStack again"
rm -f "$PID_FILE"
(cd "$REPO_ROOT" && npm run -s localstack:stop)
kill -0 "$started" 2>/dev/null && fail "pid $started still runs after npm run localstack:stop"
[[ -z $(listener_pid) ]] || fail "port $LOCALSTACK_PORT still answers after npm run localstack:stop"
pass "pid $started stopped without a pid file"
bash "$REPO_ROOT/localstack/start.sh" >/dev/null
after=$(running_pid) || fail "start.sh did not start LocalStack again"
[[ $(health_state) == ok ]] || fail "LocalStack is not healthy after the restart: $(health_state)"
pass "started again as pid $after, healthy and provisioned"
