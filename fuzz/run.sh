#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60), one libFuzzer process at a
# time, starting from the seed corpora (fuzz/seeds.py writes them into fuzz/corpus/). Prints
# executions and findings per target; exits 1 when any target found something (a panic, a failed
# assertion of hookwall::fuzzing, a timeout or an out-of-memory), whose input is then in
# fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Environment: HOOKWALL_FUZZ_TARGET_DIR (default ~/.cache/hookwall-fuzz-target: instrumented
# builds are kept outside the clone), FUZZ_SANITIZER (default address; `none` is faster and needs
# no RUSTC_BOOTSTRAP).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true
target_dir="${HOOKWALL_FUZZ_TARGET_DIR:-$HOME/.cache/hookwall-fuzz-target}"
sanitizer="${FUZZ_SANITIZER:-address}"
# The sanitizers need -Z flags; this lets the stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
# The caller's CARGO_TARGET_DIR is the gateway's; the instrumented build must not land there.
unset CARGO_TARGET_DIR

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo install cargo-fuzz --locked"
    cargo install cargo-fuzz --locked
fi

python3 seeds.py

build_started=$SECONDS
if [ "$#" -gt 0 ]; then
    targets=("$@")
    echo "fuzz: building ${targets[*]} (sanitizer: $sanitizer, target dir: $target_dir)"
    for target in "${targets[@]}"; do
        cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir" "$target"
    done
else
    mapfile -t targets < <(cargo fuzz list)
    echo "fuzz: building all ${#targets[@]} targets (sanitizer: $sanitizer, target dir: $target_dir)"
    cargo fuzz build --sanitizer "$sanitizer" --target-dir "$target_dir"
fi
echo "fuzz: built in $((SECONDS - build_started)) s"

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=0
rows=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    before=$(find "artifacts/$target" -type f | wc -l)
    status=0
    # -timeout: one input taking 10 s is a finding (a hang), not a slow machine.
    cargo fuzz run --sanitizer "$sanitizer" --target-dir "$target_dir" "$target" \
        "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$logs/$target.log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log" | tail -n 1)
    corpus=$(find "corpus/$target" -type f | wc -l)
    found=$(($(find "artifacts/$target" -type f | wc -l) - before))
    if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then
        found=1
    fi
    if [ "$found" -ne 0 ]; then
        failed=1
        echo "fuzz: $target found something (exit $status); the end of its log:"
        tail -n 40 "$logs/$target.log"
    fi
    rows+=("$(printf '%-18s %8s %12s %8s %9s' "$target" "$seconds" "${execs:-?}" "$corpus" "$found")")
done

printf '%-18s %8s %12s %8s %9s\n' target seconds executions corpus findings
printf '%s\n' "${rows[@]}"
exit "$failed"
