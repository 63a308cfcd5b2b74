#!/usr/bin/env bash
# `npm test`: installs what is missing, brings up Postgres, Redis and LocalStack, runs every tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec npx vitest run "$@"
