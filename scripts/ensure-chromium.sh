#!/usr/bin/env bash
# Makes sure Chromium is installed at /usr/bin/chromium: the end-to-end test
# of the Temporal Web UI drives it headless, as a person would use the UI.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "$CHROMIUM not found and no apt-get here: install Chromium there" >&2
	exit 1
fi
echo "Chromium not found; installing Debian's chromium …" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq chromium >/dev/null
[ -x "$CHROMIUM" ] || { echo "chromium installed but $CHROMIUM is still missing" >&2; exit 1; }
