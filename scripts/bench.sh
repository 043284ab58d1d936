#!/usr/bin/env bash
# The load benchmark: in ONE run on this machine, with wrk on the same machine,
#   (a) a bare axum handler that reads the body and answers 204 (the HTTP stack's ceiling),
#   (b) hookwall's full pipeline on a GitHub-signed ~1 KiB JSON webhook: verification, a JSON
#       Schema, de-duplication, the SQLite store at synchronous=FULL, the answer,
#   (bd) the same with a destination (a local handler answering at once): does delivery keep
#       up? (throughput, and the queue depth after the run and 5 s later),
#   (bf) (bd) with a filter on the destination that every request passes: the cost of routing,
#   (bq) (b) while a second wrk sends bad-signature requests (401, each kept by the refusal
#       quarantine) at BENCH_FLOOD_RATE per second (default 2000), and (bq0) the same flood
#       with the quarantine off: the accepted path's throughput and p99 under a flood, and
#       what the quarantine adds to it (64 connections; the flood's own line is "…_flood"),
#   (c) the same on PostgreSQL, when one answers (HOOKWALL_BENCH_DATABASE_URL, default
#       postgres://postgres@127.0.0.1:5432/postgres) and this build supports it,
#   (bt) (b) with OpenTelemetry traces on, sampled at BENCH_TRACE_RATIO (default 0.1,
#       parentbased_traceidratio), exported to a local OTLP/HTTP receiver that answers 200:
#       the cost of tracing on the webhook path (SPEC section 14),
#   (d) adnanh/webhook (Debian's `webhook`) with an HMAC-SHA256 rule, in its default mode,
#   (r) the issue's reference floor for a durable gateway, at 64 connections only: axum, the
#       HMAC-SHA256 check and SQLite group commit at synchronous=FULL, nothing else
#       (benches/load/anchor_sqlite.rs): what share of (a) durability alone leaves here,
# at 16, 64 and 256 connections: requests/s, p50/p99 latency, idle and peak RSS, the ratios
# (b)/(a) and (b)/(d), p99 of (b) at half its own maximum, and hookwall's queue depth.
#
#   scripts/bench.sh            # 30 s per measurement (about 10 minutes in all)
#   scripts/bench.sh --quick    # 2 s, 64 connections only: checks that everything runs (CI)
#   BENCH_CASES="b bt" BENCH_DURATION=10 BENCH_CONNECTIONS_LIST=64 scripts/bench.sh
#                               # only the cases named (default: all of them)
#
# BENCH_BASELINE=/path/to/an/older/hookwall adds (b0): (b) served by that binary, measured just
# before (b), and the ratio (b)/(b0): a change's cost on the webhook path, before and after, in
# one run (build the older commit's binary with its own CARGO_TARGET_DIR or copy it aside).
#
# Needs wrk (apt-get install wrk); (d) needs webhook (apt-get install webhook) and is reported
# as skipped without it. Every request has its own X-GitHub-Delivery, so de-duplication never
# short-circuits the pipeline (GitHub signs the body only; the id is what hookwall dedups on).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

duration=${BENCH_DURATION:-30}
cases=" ${BENCH_CASES:-a r b bd bf bq0 bq bt c d} "
want() { [[ "$cases" == *" $1 "* ]]; }
connection_list=${BENCH_CONNECTIONS_LIST:-"16 64 256"}
warmup=3
if [ "${1:-}" = "--quick" ]; then
    duration=2
    connection_list=64
    warmup=1
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hookwall-target}"
for tool in wrk curl python3 openssl; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done

echo "bench: cargo build --release --locked --bin hookwall --example bench_bare_axum --example bench_anchor_sqlite" >&2
cargo build --quiet --release --locked --bin hookwall --example bench_bare_axum --example bench_anchor_sqlite
bin="$CARGO_TARGET_DIR/release"

work=$(mktemp -d)
pids=()
pg_database=""
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "$pg_database" ]; then
        psql -q "$pg_url" -c "DROP DATABASE IF EXISTS $pg_database WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A ~1 KiB GitHub push-like payload that satisfies schemas/github.json, and its signature.
secret="bench-github-secret"
python3 "$root/benches/load/github_body.py" "$work/body.json"
signature="sha256=$(openssl dgst -sha256 -hmac "$secret" -r "$work/body.json" | cut -d' ' -f1)"
export BENCH_BODY="$work/body.json" BENCH_SIGNATURE="$signature"

wait_ready() { # url
    for _ in $(seq 1 150); do
        if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

wait_listening() { # port
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

rss_mib() { # pid field (VmRSS | VmHWM)
    awk -v f="$2:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

run=0
wrk_run() { # url connections seconds [pause-ms before each request of a connection]
    run=$((run + 1))
    BENCH_RUN="r$run-$$-$RANDOM" BENCH_PAUSE_MS="${4:-}" \
        wrk -t1 -c"$2" -d"$3"s --timeout 5s -s "$root/benches/load/github.lua" "$1" \
        | awk '/^RESULT/ { $1 = ""; print }'
}

field() { # "k=v k=v" key
    tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'
}

results="$work/results.txt"
: >"$results"

measure() { # name pid url [connection counts]
    local name=$1 pid=$2 url=$3 idle connections=${4:-$connection_list}
    idle=$(rss_mib "$pid" VmRSS)
    wrk_run "$url" 64 "$warmup" >/dev/null
    for c in $connections; do
        local line
        line=$(wrk_run "$url" "$c" "$duration")
        echo "$name c=$c $line" | tee -a "$results" >&2
    done
    echo "$name idle_rss_mib=$idle peak_rss_mib=$(rss_mib "$pid" VmHWM)" | tee -a "$results" >&2
}

# The downstream handler that takes hookwall's deliveries (answers at once).
sink_port=$(free_port)
"$bin/examples/bench_bare_axum" "127.0.0.1:$sink_port" &
pids+=($!)
wait_listening "$sink_port"

# (a) bare axum
if want a; then
    port=$(free_port)
    "$bin/examples/bench_bare_axum" "127.0.0.1:$port" &
    pid=$!
    pids+=("$pid")
    wait_listening "$port"
    measure a "$pid" "http://127.0.0.1:$port/hooks/github"
    kill "$pid"
fi

# (r) the reference floor: HMAC-SHA256 and SQLite group commit at synchronous=FULL, 64 only
if want r; then
    port=$(free_port)
    "$bin/examples/bench_anchor_sqlite" "127.0.0.1:$port" "$work/anchor.db" "$secret" &
    pid=$!
    pids+=("$pid")
    wait_listening "$port"
    measure r "$pid" "http://127.0.0.1:$port/hooks/github" 64
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    rm -f "$work"/anchor.db*
fi

hookwall_config() { # file store-url public admin [deliver]
    cat >"$1" <<EOF
[server]
listen = "127.0.0.1:$3"
admin_listen = "127.0.0.1:$4"
admin_token = "bench-admin-token-0123456789"
# Every connection of the load comes from 127.0.0.1, one client: the per-client share (64 by
# default) would answer the 256-connection run with 503s. Providers send from many addresses.
max_in_flight_per_client = 4096

[storage]
url = "$2"

[sources.github]
provider = "github"
secrets = ["$secret"]
schema = "$root/schemas/github.json"

EOF
    if [ "$5" = flood_off ]; then
        cat >>"$1" <<EOF
[quarantine]
enabled = false

EOF
    fi
    if [ "$5" = deliver ] || [ "$5" = filter ]; then
        cat >>"$1" <<EOF

[[sources.github.destinations]]
url = "http://127.0.0.1:$sink_port/deliver"
signing_secret = "whsec_YmVuY2gtZGVsaXZlcnktc2lnbmluZy1zZWNyZXQ="
concurrency = 64
EOF
    fi
    if [ "$5" = filter ]; then
        # (bf): the same destination behind a filter every request passes (the event type and a
        # body value), so the cost of routing is all that differs from (bd).
        cat >>"$1" <<EOF
filter = { event_types = ["push", "pull_request"], body = { "/repository/full_name" = ["octocat/Hello-World"] } }
EOF
    fi
}

queue_depth() { # admin port
    curl -fsS "http://127.0.0.1:$1/metrics" | awk '/^hookwall_queue_depth/ { s += $2 } END { print s + 0 }'
}

bench_hookwall() { # name store-url [deliver]
    local name=$1 public admin pid max half line
    public=$(free_port)
    admin=$(free_port)
    hookwall_config "$work/$name.toml" "$2" "$public" "$admin" "${3:-}"
    # (bt): traces to the sink's OTLP/HTTP route (it answers 200), a tenth of them sampled.
    local traces=(OTEL_SDK_DISABLED=true)
    if [ "${3:-}" = trace ]; then
        traces=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port"
            OTEL_TRACES_SAMPLER=parentbased_traceidratio
            OTEL_TRACES_SAMPLER_ARG="${BENCH_TRACE_RATIO:-0.1}")
    fi
    env "${traces[@]}" HOOKWALL_LOG=info HOOKWALL_LOG_FORMAT=json \
        "${hookwall_exe:-$bin/hookwall}" serve --config "$work/$name.toml" >/dev/null 2>"$work/$name.log" &
    pid=$!
    pids+=("$pid")
    if ! wait_ready "http://127.0.0.1:$public/readyz"; then
        echo "$name unavailable: $(tail -1 "$work/$name.log")" | tee -a "$results" >&2
        kill "$pid" 2>/dev/null || true
        return
    fi
    if [ "${3:-}" = deliver ] || [ "${3:-}" = filter ]; then
        # Delivery: 64 connections only; the queue's depth during the load (sampled every
        # second: bounded, or growing?), when the load stops, and 5 s later.
        (while sleep 1; do queue_depth "$admin"; done >"$work/$name.depths" 2>/dev/null) &
        local sampler=$!
        line=$(wrk_run "http://127.0.0.1:$public/hooks/github" 64 "$duration")
        kill "$sampler" 2>/dev/null || true
        echo "$name c=64 $line" | tee -a "$results" >&2
        # Growing without bound shows as a second half far above the first.
        echo "$name queue_depth_during_load $(awk '{ d[NR] = $1 } END { h = int(NR / 2); a = 0; b = 0; for (i = 1; i <= NR; i++) { if (i <= h && d[i] > a) a = d[i]; if (i > h && d[i] > b) b = d[i] } printf "max_first_half=%d max_second_half=%d samples=%d", a, b, NR }' "$work/$name.depths")" | tee -a "$results" >&2
        echo "$name queue_depth_after_load=$(queue_depth "$admin")" | tee -a "$results" >&2
        sleep 5
        echo "$name queue_depth_5s_later=$(queue_depth "$admin")" | tee -a "$results" >&2
        echo "$name peak_rss_mib=$(rss_mib "$pid" VmHWM)" | tee -a "$results" >&2
        kill "$pid"
        return
    fi
    if [ "${3:-}" = flood ] || [ "${3:-}" = flood_off ]; then
        # The flood starts first and outlasts the measurement: wrong signature, its own run id.
        local flood_seconds=$((warmup + duration + 3)) flooder
        BENCH_RUN="flood-$$-$RANDOM" BENCH_SIGNATURE="sha256=$(printf '0%.0s' $(seq 64))" \
            BENCH_RATE="$flood_rate" BENCH_CONNECTIONS=16 \
            wrk -t1 -c16 -d"${flood_seconds}"s --timeout 5s -s "$root/benches/load/github.lua" \
            "http://127.0.0.1:$public/hooks/github" | awk '/^RESULT/ { $1 = ""; print }' \
            >"$work/$name.flood" &
        flooder=$!
        sleep 1
        measure "$name" "$pid" "http://127.0.0.1:$public/hooks/github" 64
        wait "$flooder" || true
        echo "${name}_flood c=16 $(cat "$work/$name.flood")" | tee -a "$results" >&2
        kill "$pid"
        return
    fi
    measure "$name" "$pid" "http://127.0.0.1:$public/hooks/github"
    # p99 at half of its own maximum at 64 connections. A connection's pause comes on top of
    # its response time, so the pause is calibrated on short runs until the rate reached is
    # within 5 % of half the maximum (or after five tries; the line says what was reached).
    max=$(grep "^$name c=64 " "$results" | head -1)
    half=$(awk -v r="$(field "$max" rps)" 'BEGIN { printf "%d", r / 2 }')
    if [ "$half" -gt 0 ]; then
        local pause probe got
        pause=$(awk -v h="$half" 'BEGIN { printf "%.3f", 64 * 1000 / h }')
        for _ in 1 2 3 4 5; do
            probe=$(wrk_run "http://127.0.0.1:$public/hooks/github" 64 2 "$pause")
            got=$(field "$probe" rps)
            if awk -v g="$got" -v h="$half" 'BEGIN { exit !(g >= 0.95 * h && g <= 1.05 * h) }'; then
                break
            fi
            # The cycle of a connection is 64 / rate: move the pause by the difference.
            pause=$(awk -v p="$pause" -v g="$got" -v h="$half" \
                'BEGIN { q = p + 64 * 1000 / h - 64 * 1000 / (g > 0 ? g : 1); if (q < 0) q = 0; printf "%.3f", q }')
        done
        line=$(wrk_run "http://127.0.0.1:$public/hooks/github" 64 "$duration" "$pause")
        echo "$name half_load target_rps=$half pause_ms=$pause $line" | tee -a "$results" >&2
    fi
    kill "$pid"
}

# (b0) the baseline binary, then (b) hookwall, SQLite; (bd) with delivery
if want b && [ -n "${BENCH_BASELINE:-}" ]; then
    hookwall_exe=$BENCH_BASELINE bench_hookwall b0 "sqlite://$work/hookwall-baseline.db"
fi
want b && bench_hookwall b "sqlite://$work/hookwall.db"
# (bt) right after (b), so the two see the machine in the same state.
want bt && bench_hookwall bt "sqlite://$work/hookwall-traces.db" trace
want bd && bench_hookwall bd "sqlite://$work/hookwall-delivery.db" deliver
want bf && bench_hookwall bf "sqlite://$work/hookwall-filter.db" filter
flood_rate=${BENCH_FLOOD_RATE:-2000}
want bq0 && bench_hookwall bq0 "sqlite://$work/hookwall-flood-off.db" flood_off
want bq && bench_hookwall bq "sqlite://$work/hookwall-flood.db" flood

# (c) hookwall, PostgreSQL
pg_url=${HOOKWALL_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if ! want c; then
    :
elif psql -q "$pg_url" -c "SELECT 1" >/dev/null 2>&1; then
    pg_database="hookwall_bench_$$"
    psql -q "$pg_url" -c "CREATE DATABASE $pg_database" >/dev/null
    bench_hookwall c "$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_url" "$pg_database")"
else
    echo "c skipped: no PostgreSQL at $pg_url" | tee -a "$results" >&2
fi

# (d) adnanh/webhook, default mode (answers before its command finishes)
if ! want d; then
    :
elif command -v webhook >/dev/null; then
    port=$(free_port)
    cat >"$work/hooks.json" <<EOF
[{
  "id": "github",
  "execute-command": "/bin/true",
  "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "$secret",
                             "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}
}]
EOF
    webhook -hooks "$work/hooks.json" -ip 127.0.0.1 -port "$port" >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_listening "$port"
    measure d "$pid" "http://127.0.0.1:$port/hooks/github"
    kill "$pid"
else
    echo "d skipped: webhook is not installed (apt-get install webhook)" | tee -a "$results" >&2
fi

# The report.
rps_of() { # name connections
    local line
    line=$(grep "^$1 c=$2 " "$results" | head -1 || true)
    [ -n "$line" ] && field "$line" rps || true
}
ratio() {
    if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else echo "n/a"; fi
}
{
    echo "# hookwall load benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${duration}s per measurement, wrk -t1"
    echo
    echo "| server | connections | requests/s | p50 ms | p99 ms | non-2xx | socket errors |"
    echo "|---|---|---|---|---|---|---|"
    grep ' c=' "$results" | while read -r name c rest; do
        echo "| $name | ${c#c=} | $(field "$rest" rps) | $(field "$rest" p50_ms) | $(field "$rest" p99_ms) | $(field "$rest" errors_status) | $(field "$rest" errors_socket) |"
    done
    echo
    grep -E 'rss_mib|queue_depth|half_load|skipped|unavailable' "$results" | sed 's/^/- /'
    echo
    echo "- (b)/(a) at 64 connections: $(ratio "$(rps_of b 64)" "$(rps_of a 64)")"
    echo "- (r)/(a) at 64 connections: $(ratio "$(rps_of r 64)" "$(rps_of a 64)")"
    echo "- (b)/(r) at 64 connections: $(ratio "$(rps_of b 64)" "$(rps_of r 64)")"
    echo "- (bd)/(b) at 64 connections: $(ratio "$(rps_of bd 64)" "$(rps_of b 64)")"
    echo "- (bf)/(bd) at 64 connections: $(ratio "$(rps_of bf 64)" "$(rps_of bd 64)")"
    echo "- (b)/(d) at 64 connections: $(ratio "$(rps_of b 64)" "$(rps_of d 64)")"
    echo "- (bq)/(bq0) at 64 connections (the quarantine's cost under a flood of refusals): $(ratio "$(rps_of bq 64)" "$(rps_of bq0 64)")"
    echo "- (bq)/(b) at 64 connections (the flood's cost, quarantine on): $(ratio "$(rps_of bq 64)" "$(rps_of b 64)")"
    echo "- (c)/(b) at 64 connections: $(ratio "$(rps_of c 64)" "$(rps_of b 64)")"
    if [ -n "${BENCH_BASELINE:-}" ]; then
        echo "- (b)/(b0) at 64 connections (this build against BENCH_BASELINE): $(ratio "$(rps_of b 64)" "$(rps_of b0 64)")"
    fi
    echo "- (bt)/(b) at 64 connections (traces on, ${BENCH_TRACE_RATIO:-0.1} sampled): $(ratio "$(rps_of bt 64)" "$(rps_of b 64)")"
}
