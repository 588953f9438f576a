#!/usr/bin/env bash
# Makes sure PostgreSQL 15's server binaries (initdb, postgres) are
# installed: cmo dev and the tests run throw-away local clusters with them.
set -euo pipefail

have_server() {
	local bindir
	bindir="$(pg_config --bindir 2>/dev/null || true)"
	for d in "$bindir" /usr/lib/postgresql/*/bin; do
		[ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
	done
	return 1
}

if have_server; then
	exit 0
fi

echo "PostgreSQL server binaries not found; installing Debian's postgresql-15 …" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq postgresql-15 >/dev/null
have_server || { echo "postgresql-15 installed but initdb/postgres still not found" >&2; exit 1; }
