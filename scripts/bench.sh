#!/usr/bin/env bash
# Measures cmo and writes BENCHMARKS.md:
#   - `cmo dev` time to ready (new and existing data directory) and idle RSS;
#   - the engine baseline on the embedded server: a one-activity workflow's
#     throughput and the campaign workflow's, in the same run, as a ratio.
# Absolute figures on shared machines are noisy; compare ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-postgres.sh
mkdir -p bin
go build -o bin/cmo ./cmd/cmo

RUNS=${RUNS:-3}
tmp=$(mktemp -d /tmp/cmo-bench-XXXXXX)
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

now_ms() { date +%s%3N; }

# start_dev DIR: runs cmo dev in the background; sets ms (to ready) and pid.
start_dev() {
	local dir=$1 out="$tmp/out.$RANDOM" t0
	t0=$(now_ms)
	bin/cmo dev --data-dir "$dir" --http-addr 127.0.0.1:0 --temporal-port 0 --ui-port 0 --log-level error >"$out" 2>"$out.err" &
	pid=$!
	until grep -q "is ready" "$out" 2>/dev/null; do
		kill -0 "$pid" 2>/dev/null || { echo "cmo dev exited before ready:" >&2; cat "$out.err" >&2; exit 1; }
		sleep 0.02
	done
	ms=$(( $(now_ms) - t0 ))
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
# pg_rss_kb PID: RSS of the postgres server started by cmo process PID and its backends.
pg_rss_kb() {
	local pm
	pm=$(pgrep -P "$1" -x postgres | head -1)
	[ -n "$pm" ] || { echo 0; return; }
	{ ps -o rss= -p "$pm"; ps -o rss= --ppid "$pm"; } | awk '{s+=$1} END {print s+0}'
}

fresh=() ; warm=() ; rss=() ; pgrss=()
for i in $(seq "$RUNS"); do
	dir="$tmp/data-$i"
	start_dev "$dir"; fresh+=("$ms")
	kill -TERM "$pid"; wait "$pid" || true
	start_dev "$dir"; warm+=("$ms")
	sleep 10 # idle
	rss+=("$(rss_kb "$pid")"); pgrss+=("$(pg_rss_kb "$pid")")
	kill -TERM "$pid"; wait "$pid" || true
done

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

bench_out="$tmp/bench.txt"
go test -run '^$' -bench Engine -benchtime "${BENCHTIME:-200x}" -count "$RUNS" ./e2e/ | tee "$bench_out"
metric() { awk -v name="$1" '$1 ~ name {for (i=1;i<=NF;i++) if ($i=="workflows/s") print $(i-1)}' "$bench_out"; }
mapfile -t noop < <(metric OneActivity)
mapfile -t camp < <(metric Campaign)
noop_med=$(median "${noop[@]}")
camp_med=$(median "${camp[@]}")
ratio=$(awk -v a="$camp_med" -v b="$noop_med" 'BEGIN {printf "%.2f", a/b}')
ratios=()
for i in "${!noop[@]}"; do ratios+=("$(awk -v a="${camp[$i]}" -v b="${noop[$i]}" 'BEGIN {printf "%.2f", a/b}')"); done

cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
cat > BENCHMARKS.md <<MD
# Benchmarks

Measured by \`make bench\` on $(date -u +%Y-%m-%d), $(nproc) cores ($cpu), $mem,
$(go version | awk '{print $3}'). Shared machine: compare the ratios measured in
one run rather than absolute figures across runs.

## \`cmo dev\`

| what | median of $RUNS | runs |
| --- | --- | --- |
| time to ready, new data directory (initdb, schema, migrations) | $(median "${fresh[@]}") ms | ${fresh[*]} |
| time to ready, existing data directory | $(median "${warm[@]}") ms | ${warm[*]} |
| idle RSS of the cmo process after 10 s | $(( $(median "${rss[@]}") / 1024 )) MiB | $(printf '%s ' "${rss[@]}" | awk '{for(i=1;i<=NF;i++) printf "%d ", $i/1024}')MiB |
| idle RSS of its PostgreSQL processes | $(( $(median "${pgrss[@]}") / 1024 )) MiB | |

## Engine baseline (embedded Temporal, SQLite, 16 workflows in flight)

| workflow | median workflows/s | runs |
| --- | --- | --- |
| one no-op activity | $noop_med | ${noop[*]} |
| first-campaign: render, approval update, 2 sandbox posts over HTTP with the publish ledger, report | $camp_med | ${camp[*]} |
| **ratio campaign / one-activity** | **$ratio** | ${ratios[*]} |

A campaign runs 3 activities and 1 update against the baseline's 1
activity, and each post makes a ledger write before and after an HTTP call
to the sandbox, which itself writes to PostgreSQL.
MD
echo "wrote BENCHMARKS.md"
