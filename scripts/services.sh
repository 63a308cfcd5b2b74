#!/usr/bin/env bash
# Ensure every service the product and its tests need is up, starting whatever is down:
#   PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379, the machine's one LocalStack (S3, SQS, EventBridge)
#   127.0.0.1:4566 + provisioning (localstack/start.sh reuses it when another checkout started it).
#   clamd 127.0.0.1:3310 for malware scanning (scripts/clamd.sh; one per machine too).
# Idempotent, and fast when everything is already running.
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
readonly REPO_ROOT

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed ($2)"; }

# Poll a readiness command for up to $1 seconds.
wait_for() {
  local timeout=$1
  shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

ensure_postgres() {
  need pg_isready "apt-get install -y postgresql"
  if pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
  need pg_ctlcluster "apt-get install -y postgresql-common"
  local version
  # shellcheck disable=SC2012 # entries are version numbers; the oldest cluster is the one on 5432 by default
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | head -1)
  [[ -n $version ]] || die "no PostgreSQL cluster under /etc/postgresql (apt-get install -y postgresql)"
  log "starting PostgreSQL $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start \
    || die "pg_ctlcluster $version main start failed (see /var/log/postgresql/postgresql-$version-main.log)"
  wait_for 30 pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL is not accepting connections on 127.0.0.1:5432"
}

ensure_redis() {
  need redis-cli "apt-get install -y redis-tools"
  if [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]; then return 0; fi
  need redis-server "apt-get install -y redis-server"
  log "starting Redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null \
    || die "redis-server failed to start"
  wait_for 10 redis_ping || die "Redis does not answer PING on 127.0.0.1:6379"
}

redis_ping() { [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]; }

ensure_postgres
ensure_redis
bash "$REPO_ROOT/localstack/start.sh"
bash "$REPO_ROOT/scripts/clamd.sh"
