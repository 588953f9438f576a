#!/usr/bin/env bash
# Runs every test: unit tests, store tests on real PostgreSQL, workflow
# tests with Temporal's test suite, and end-to-end tests on the embedded
# Temporal server and its Web UI in a headless browser. Installs what it
# needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
scripts/ensure-dictionaries.sh
scripts/ensure-chromium.sh
go version
go vet ./...
go test -count=1 -timeout 25m "$@" ./...
