#!/usr/bin/env bash
# Builds cmo and runs `cmo dev`: the whole stack on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
scripts/ensure-dictionaries.sh
mkdir -p bin
echo "building cmo (the first build compiles the embedded Temporal server: several minutes) …" >&2
go build -o bin/cmo ./cmd/cmo
exec bin/cmo dev "$@"
