#!/usr/bin/env bash
# Makes sure the Hunspell dictionaries the check step spells with (Catalan,
# Spanish, US English) are installed: the worker reads them from
# /usr/share/hunspell, and the contentcheck tests fail in CI without them.
set -euo pipefail

DICT_DIR=/usr/share/hunspell
PACKAGES=(hunspell-ca hunspell-es hunspell-en-us)

have_dictionaries() {
	local f
	for f in ca es_ES en_US; do
		[ -r "$DICT_DIR/$f.aff" ] && [ -r "$DICT_DIR/$f.dic" ] || return 1
	done
}

if have_dictionaries; then
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "spelling dictionaries not found in $DICT_DIR and no apt-get here: install ${PACKAGES[*]} (or their equivalents)" >&2
	exit 1
fi
echo "Spelling dictionaries not found; installing Debian's ${PACKAGES[*]} …" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
have_dictionaries || { echo "${PACKAGES[*]} installed but the dictionaries are still not in $DICT_DIR" >&2; exit 1; }
