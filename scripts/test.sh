#!/usr/bin/env bash
# `npm test`: brings up Postgres, Redis and LocalStack when they are down, then runs every test tier.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/services.sh
exec npx vitest run "$@"
