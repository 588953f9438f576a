#!/usr/bin/env bash
# Measures cmo and writes BENCHMARKS.md:
#   - `cmo dev` time to ready (new and existing data directory) and idle RSS;
#   - the engine baseline on the embedded server: a one-activity workflow's
#     throughput and the campaign workflow's, in the same run, as a ratio;
#   - a bounded load on loopback (e2e TestLoad, LOAD_DURATION, 60 s):
#     launches, status reads and ingestion at fixed rates, latency
#     percentiles and errors. Errors fail the run once the file is written.
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
metric() { awk -v name="$1" -v unit="$3" '$1 ~ name {for (i=1;i<=NF;i++) if ($i==unit) print $(i-1)}' "$2"; }
# ratios A B: per-run A/B, two decimals.
ratios() {
	local -n _a=$1 _b=$2
	local out=()
	for i in "${!_a[@]}"; do out+=("$(awk -v a="${_a[$i]}" -v b="${_b[$i]}" 'BEGIN {printf "%.2f", a/b}')"); done
	echo "${out[*]}"
}
mapfile -t noop < <(metric OneActivity "$bench_out" workflows/s)
mapfile -t camp < <(metric CampaignWorkflow "$bench_out" workflows/s)
mapfile -t interp < <(metric InterpreterTenSteps "$bench_out" workflows/s)
mapfile -t hand < <(metric HandWrittenTenSteps "$bench_out" workflows/s)
noop_med=$(median "${noop[@]}")
camp_med=$(median "${camp[@]}")
ratio=$(awk -v a="$camp_med" -v b="$noop_med" 'BEGIN {printf "%.2f", a/b}')
ratio_runs=$(ratios camp noop)
# Interpreter overhead as time per workflow: hand-written throughput over the interpreter's.
interp_ratio=$(awk -v a="$(median "${hand[@]}")" -v b="$(median "${interp[@]}")" 'BEGIN {printf "%.2f", a/b}')
interp_runs=$(ratios hand interp)

rules_out="$tmp/rules.txt"
go test -run '^$' -bench 'EvalRules|EvalRawExpr' -count "$((RUNS * 2))" ./rules/ | tee "$rules_out"
mapfile -t rules_ns < <(metric 'EvalRules-' "$rules_out" ns/op)
mapfile -t bysrc_ns < <(metric EvalRulesBySource "$rules_out" ns/op)
mapfile -t raw_ns < <(metric EvalRawExpr "$rules_out" ns/op)
bysrc_ratio=$(awk -v a="$(median "${bysrc_ns[@]}")" -v b="$(median "${raw_ns[@]}")" 'BEGIN {printf "%.2f", a/b}')
rules_ratio=$(awk -v a="$(median "${rules_ns[@]}")" -v b="$(median "${raw_ns[@]}")" 'BEGIN {printf "%.2f", a/b}')
rules_runs=$(ratios rules_ns raw_ns)

check_line=""
if [ -d contentcheck ]; then
	check_out="$tmp/check.txt"
	go test -run '^$' -bench . -count "$RUNS" ./contentcheck/ | tee "$check_out"
	check_line=$(awk '/^Benchmark/ {print "| " $1 " | " $3 " ns/op |"}' "$check_out")
fi

listen_out="$tmp/listen.txt"
go test -run '^$' -bench ListeningIngest -benchtime "${INGEST_BENCHTIME:-3x}" -count "$RUNS" ./e2e/ | tee "$listen_out"
mapfile -t ingest_http < <(metric ListeningIngest "$listen_out" http_mentions/s)
mapfile -t ingest_copy < <(metric ListeningIngest "$listen_out" copy_mentions/s)
mapfile -t ingest_ratio < <(metric ListeningIngest "$listen_out" http/copy)
detect_out="$tmp/detect.txt"
go test -run '^$' -bench ListeningDetectionLatency -benchtime "${DETECT_RUNS:-20}x" -count 1 -v ./e2e/ | tee "$detect_out"
detect_p50=$(metric DetectionLatency "$detect_out" p50_ms)
detect_p95=$(metric DetectionLatency "$detect_out" p95_ms)
detect_max=$(metric DetectionLatency "$detect_out" max_ms)
sim_out="$tmp/simulate.txt"
go test -run '^$' -bench Week -benchtime 1x -count "$RUNS" -timeout 30m ./simulate/ | tee "$sim_out"
mapfile -t sim_ns < <(metric BenchmarkWeek "$sim_out" ns/op)
sim_mentions=$(metric BenchmarkWeek "$sim_out" mentions | head -1)
sim_ticks=$(metric BenchmarkWeek "$sim_out" ticks | head -1)
sim_secs=()
for v in "${sim_ns[@]}"; do sim_secs+=("$(awk -v n="$v" 'BEGIN {printf "%.1f", n/1e9}')"); done
sent_out="$tmp/sentiment.txt"
go test -run '^$' -bench . -count "$RUNS" ./sentiment/ | tee "$sent_out"
mapfile -t sent_rate < <(metric 'BenchmarkScore-' "$sent_out" mentions/s)
load_md="$tmp/load.md"
load_failed=0
CMO_LOAD="${LOAD_DURATION:-60s}" CMO_LOAD_REPORT="$load_md" \
	go test -run '^TestLoad$' -count 1 -v -timeout 20m ./e2e/ | tee "$tmp/load.txt" || load_failed=1
[ -s "$load_md" ] || echo "The load test stopped before it measured anything: see \`make bench\`'s output." > "$load_md"

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
| **ratio campaign / one-activity** | **$ratio** | $ratio_runs |

A campaign runs 3 activities and 1 update against the baseline's 1
activity, and each post makes a ledger write before and after an HTTP call
to the sandbox, which itself writes to PostgreSQL.

## Playbook interpreter overhead (same server, same run)

A 10-step playbook (ten notify steps) run by the Campaign interpreter,
against a hand-written workflow calling the same no-op activity ten times.

| workflow | median workflows/s | runs |
| --- | --- | --- |
| interpreter, 10 steps | $(median "${interp[@]}") | ${interp[*]} |
| hand-written, 10 activities | $(median "${hand[@]}") | ${hand[*]} |
| **time per workflow, interpreter / hand-written** (target ≤ 1.25) | **$interp_ratio** | $interp_runs |

## Rules: \`rules.Eval\` against raw \`expr.Run\` of the same program

| what | median ns/op | runs |
| --- | --- | --- |
| rules.Program.EvalBool (typed environment, result checked) | $(median "${rules_ns[@]}") | ${rules_ns[*]} |
| expr.Run of the same precompiled program | $(median "${raw_ns[@]}") | ${raw_ns[*]} |
| **ratio** (target ≤ 1.2) | **$rules_ratio** | $rules_runs |
| rules.Eval by source text (adds the program lookup), ratio to expr.Run | $bysrc_ratio | ${bysrc_ns[*]} ns/op |

No compilation happens on the evaluation path: programs are compiled once
per process; the interpreter holds each run's programs.
MD
cat >> BENCHMARKS.md <<MD

## Listening: ingestion and detection

Ingestion: 100,000 mentions per iteration, sent as 10 NDJSON requests of
10,000 to \`POST /v1/mentions\` (parsing, validation, lexicon sentiment,
deduplicating COPY, minute buckets, durable before the answer), then the
same rows written by a raw pgx \`CopyFrom\` into the same table, in the
same iteration.

| what | median | runs |
| --- | --- | --- |
| HTTP NDJSON ingestion (target ≥ 20,000/s) | $(median "${ingest_http[@]}") mentions/s | ${ingest_http[*]} |
| raw pgx CopyFrom, same rows, same table | $(median "${ingest_copy[@]}") mentions/s | ${ingest_copy[*]} |
| **ratio HTTP / raw COPY** (target ≥ 0.5) | **$(median "${ingest_ratio[@]}")** | ${ingest_ratio[*]} |
| lexicon sentiment alone, one core (\`sentiment.Scorer.Score\`) | $(median "${sent_rate[@]}") mentions/s | ${sent_rate[*]} |

Detection latency: ${DETECT_RUNS:-20} runs, each a new brand on the running stack: a calm
stream, then a negative spike (80 complaints over one second) through the
API; the time from the spike's first request to the crisis workflow's start
(Temporal's start time).

| p50 | p95 (target ≤ 5 s) | max |
| --- | --- | --- |
| ${detect_p50} ms | ${detect_p95} ms | ${detect_max} ms |

Backtest (\`cmo simulate\`): a week of $sim_mentions mentions with one spike, replayed
through the production monitor and crisis workflows in Temporal's test
environment ($sim_ticks monitor ticks).

| median (target < 60 s) | runs |
| --- | --- |
| $(median "${sim_secs[@]}") s | ${sim_secs[*]} s |

New mentions wake the brand's monitor at most once a second (the API
coalesces its signals and the monitor spaces its evaluations), so a spike
that follows other traffic within a second waits up to that second; the
monitor's own tick (\`CMO_MONITOR_INTERVAL\`, 10 s) is the bound when no
signal arrives.
MD
cat >> BENCHMARKS.md <<MD

## Load on loopback

\`CMO_LOAD=${LOAD_DURATION:-60s} go test ./e2e/ -run TestLoad\` on $(date -u +%Y-%m-%d), $(nproc) cores: one
embedded stack (Temporal, PostgreSQL, worker, API) and the load generator
in one process, over loopback.

$(cat "$load_md")
MD
if [ -n "$check_line" ]; then
	cat >> BENCHMARKS.md <<MD

## Content quality gate

| benchmark | ns/op |
| --- | --- |
$check_line
MD
fi
if [ -f bench/chaos.md ]; then
	{ echo; cat bench/chaos.md; } >> BENCHMARKS.md
fi
echo "wrote BENCHMARKS.md"
if [ "$load_failed" = 1 ]; then
	echo "the load test failed (errors under load): see its section in BENCHMARKS.md" >&2
	exit 1
fi
