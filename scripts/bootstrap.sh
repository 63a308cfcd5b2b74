#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than package-lock.json, then makes
# sure Postgres, Redis and LocalStack are up. Shared by `npm start` and `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bash scripts/services.sh
