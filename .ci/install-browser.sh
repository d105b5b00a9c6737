#!/usr/bin/env bash
# Install Debian's headless-capable Chromium for the browser test (tests/integration/browser/), unless it is already there.
# Needs root (CI containers run as root) or sudo. Playwright drives this binary; `playwright install` is not used.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  echo "install-browser: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") already installed"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-browser: need root or sudo to install chromium" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-liberation fonts-dejavu-core
"$CHROMIUM" --version
