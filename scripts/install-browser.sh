#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (test/browser). `npx playwright install` cannot
# work here: its CDN is unreachable, so playwright-core drives the apt package instead.
# Idempotent: does nothing when /usr/bin/chromium is already present.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
SUDO=
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-browser: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-browser: installing chromium from apt" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version >&2
