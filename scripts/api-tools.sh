#!/usr/bin/env bash
# Installs the OpenAPI tools the tests run from outside (openapi-spec-validator, Schemathesis) into a
# pinned venv in the user's cache folder, like LocalStack's, and prints the venv's bin folder.
# Idempotent: a venv whose stamp matches scripts/api-tools.txt is reused.
#
#   bin=$(bash scripts/api-tools.sh) && "$bin/st" --version
#
# Environment: API_TOOLS_VENV (default ${XDG_CACHE_HOME:-$HOME/.cache}/upload-pipeline/api-tools),
#              API_TOOLS_PYTHON (default python3.11, else python3)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly REQUIREMENTS=$SCRIPT_DIR/api-tools.txt
readonly VENV=${API_TOOLS_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/upload-pipeline/api-tools}
readonly STAMP=$VENV/.upload-pipeline-requirements.sha256

want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
if [[ -x $VENV/bin/st && -f $STAMP && $(<"$STAMP") == "$want" ]]; then
  printf '%s\n' "$VENV/bin"
  exit 0
fi

python=${API_TOOLS_PYTHON:-$(command -v python3.11 || command -v python3)}
[[ -n $python ]] || { echo 'api-tools: python3 is not installed' >&2; exit 1; }
# Several test processes may ask at once: one installs, the others wait for it.
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if ! [[ -x $VENV/bin/st && -f $STAMP && $(<"$STAMP") == "$want" ]]; then
  echo "api-tools: installing into $VENV" >&2
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
  printf '%s\n' "$want" >"$STAMP"
fi
printf '%s\n' "$VENV/bin"
