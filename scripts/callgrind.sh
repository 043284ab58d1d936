#!/usr/bin/env bash
# Instructions per accepted request, counted by valgrind's callgrind: repeatable whatever else
# the machine is doing, so a change's cost on the webhook path can be compared between two
# binaries on a shared, noisy machine. The method of docs/benchmarks.md: each binary serves the
# bench config and body of scripts/bench.sh (one GitHub source with its JSON Schema, a fresh SQLite file,
# logs at info as JSON) under callgrind; `wrk -t1 -c8 -d8s` sends GitHub-signed ~1 KiB webhooks,
# each with its own delivery id, counted from when the server is ready (`callgrind_control
# --zero`) until it stopped on SIGINT; per request = that total / the requests answered 202.
#
#   scripts/callgrind.sh                           # this checkout's release binary
#   scripts/callgrind.sh /path/to/old/hookwall     # that binary, then this checkout's
#   CALLGRIND_TRACE_RATIO=0.1 scripts/callgrind.sh # each binary twice: traces off, then on
#
# With CALLGRIND_TRACE_RATIO, each binary runs once with traces off (`OTEL_SDK_DISABLED=true`)
# and once exporting OTLP/HTTP to a local receiver that answers 200 (the bench's bare axum
# handler), sampled at that ratio: the instructions of every thread are counted, the export
# thread's included.
# Needs valgrind, wrk, curl, python3 and openssl.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

for tool in valgrind callgrind_control wrk curl python3 openssl; do
    command -v "$tool" >/dev/null || { echo "callgrind: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hookwall-target}"
cargo build --quiet --release --locked --bin hookwall --example bench_bare_axum
binaries=("$@" "$CARGO_TARGET_DIR/release/hookwall")
trace_ratio="${CALLGRIND_TRACE_RATIO:-}"

work=$(mktemp -d)
server=""
receiver=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
    if [ -n "$receiver" ]; then kill "$receiver" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

secret="bench-github-secret"
python3 "$root/benches/load/github_body.py" "$work/body.json"
signature="sha256=$(openssl dgst -sha256 -hmac "$secret" -r "$work/body.json" | cut -d' ' -f1)"

if [ -n "$trace_ratio" ]; then
    receiver_port=$(free_port)
    "$CARGO_TARGET_DIR/release/examples/bench_bare_axum" "127.0.0.1:$receiver_port" &
    receiver=$!
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null -X POST "http://127.0.0.1:$receiver_port/" 2>/dev/null && break
        sleep 0.1
    done
fi

# One run per binary, or two (traces off, then on) with CALLGRIND_TRACE_RATIO.
runs=()
for exe in "${binaries[@]}"; do
    if [ -n "$trace_ratio" ]; then
        runs+=("off $exe" "$trace_ratio $exe")
    else
        runs+=("- $exe")
    fi
done

echo "| binary | traces | requests answered | instructions | per request |"
echo "|---|---|---|---|---|"
n=0
for run in "${runs[@]}"; do
    traces=${run%% *}
    exe=${run#* }
    n=$((n + 1))
    public=$(free_port)
    admin=$(free_port)
    cat >"$work/$n.toml" <<EOF
[server]
listen = "127.0.0.1:$public"
admin_listen = "127.0.0.1:$admin"
admin_token = "bench-admin-token-0123456789"
max_in_flight_per_client = 4096

[storage]
url = "sqlite://$work/$n.db"

[sources.github]
provider = "github"
secrets = ["$secret"]
schema = "$root/schemas/github.json"
EOF
    otel=(OTEL_SDK_DISABLED=true)
    case "$traces" in
        off | -) ;;
        *) otel=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$receiver_port"
            OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG="$traces") ;;
    esac
    env "${otel[@]}" HOOKWALL_LOG=info HOOKWALL_LOG_FORMAT=json valgrind --tool=callgrind \
        --callgrind-out-file="$work/$n.out" "$exe" serve --config "$work/$n.toml" \
        >/dev/null 2>"$work/$n.log" &
    server=$!
    for _ in $(seq 1 600); do
        curl -fsS -o /dev/null "http://127.0.0.1:$public/readyz" 2>/dev/null && break
        sleep 0.1
    done
    # Start-up is not the request path: the counters start from zero here.
    callgrind_control --zero "$server" >/dev/null 2>&1
    line=$(BENCH_BODY="$work/body.json" BENCH_SIGNATURE="$signature" BENCH_RUN="cg$n-$$" \
        wrk -t1 -c8 -d8s --timeout 5s -s "$root/benches/load/github.lua" \
        "http://127.0.0.1:$public/hooks/github" | awk '/^RESULT/ { $1 = ""; print }')
    kill -INT "$server"
    wait "$server" || true
    server=""
    requests=$(tr ' ' '\n' <<<"$line" | awk -F= '$1 == "requests" { print $2 }')
    failed=$(tr ' ' '\n' <<<"$line" | awk -F= '$1 == "errors_status" { print $2 }')
    total=$(awk '/^summary:/ { print $2 }' "$work/$n.out")
    answered=$((requests - failed))
    echo "| $exe | $traces | $answered | $total | $(awk -v t="$total" -v r="$answered" 'BEGIN { printf "%d", t / r }') |"
done
