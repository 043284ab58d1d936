#!/usr/bin/env bash
# The unauthenticated gzip flood of issue 20 (finding 2), reproduced on loopback, bounded:
# for each concurrency level (16 and 64 by default) a fresh hookwall is started with a
# `brightdata` source (64 MiB cap, as in examples/hookwall.toml, no rate limit: an attacker
# with many addresses never meets it) and a `github` source; benches/load/flood.rs sends
# 64 KB gzip bodies that inflate to ~63 MiB with a wrong token, in a loop on N connections,
# while one client sends good signed GitHub webhooks every 20 ms. Reported per level: the
# flood's status counts, the good webhooks' p50/p99, and the server's peak RSS (VmHWM).
#
#   scripts/flood.sh                      # 10 s per level, levels "16 64"
#   FLOOD_SECONDS=5 FLOOD_LEVELS="16" scripts/flood.sh
#   FLOOD_PATH=/hooks/github FLOOD_AUTH=x scripts/flood.sh   # the same bombs at a signature source
#   FLOOD_SERVER_BIN=/tmp/hookwall-old scripts/flood.sh         # measure another build
#
# The release build uses thin settings (no fat LTO) by default so it builds in minutes on a
# small machine; FLOOD_FAT_LTO=1 keeps Cargo.toml's release profile.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FLOOD_SECONDS:-10}
levels=${FLOOD_LEVELS:-"16 64"}
port=${FLOOD_PORT:-18090}
path=${FLOOD_PATH:-/hooks/brightdata}
auth=${FLOOD_AUTH:-Bearer not-the-token}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/hookwall-target}"
if [ "${FLOOD_FAT_LTO:-0}" != 1 ]; then
    export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
fi
bin="$CARGO_TARGET_DIR/release"
server_bin=${FLOOD_SERVER_BIN:-$bin/hookwall}
if [ -z "${FLOOD_SERVER_BIN:-}" ]; then
    echo "flood: cargo build --release --bin hookwall --example bench_flood" >&2
    cargo build --quiet --release --bin hookwall --example bench_flood
else
    # FLOOD_SERVER_BIN: another build of hookwall to measure (e.g. an older commit's).
    cargo build --quiet --release --example bench_flood
fi

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/hookwall.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:0"
admin_token = "flood-admin-token-0123456789"
max_body_bytes = "1MiB"
request_timeout = "10s"

[storage]
url = "sqlite://$work/hookwall.db"

[sources.github]
provider = "github"
secrets = ["flood-github-secret"]

[sources.brightdata]
provider = "brightdata"
secrets = ["Bearer the-real-token"]
max_body_bytes = "64MiB"
TOML

echo "flood: server ${FLOOD_SERVER_BIN:-commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+changes')}, ${seconds}s per level, path $path" >&2
for level in $levels; do
    rm -f "$work"/hookwall.db*
    HOOKWALL_LOG_LEVEL=error RUST_LOG=error "$server_bin" serve --config "$work/hookwall.toml" >"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    result=$("$bin/examples/bench_flood" "127.0.0.1:$port" "$level" "$seconds" "$path" "$auth")
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
    echo "$result server_peak_rss_mib=$((hwm / 1024))"
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
done
