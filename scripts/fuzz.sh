#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/, one after another, each for a set
# time, on one core at low priority. Not part of CI (.ci/run).
#
#   scripts/fuzz.sh                      # every target, 600 s each
#   scripts/fuzz.sh 60                   # every target, 60 s each
#   scripts/fuzz.sh 600 gelf scrubber    # these targets, 600 s each
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz
# --locked`). Each target's generated corpus grows in fuzz/corpus/<target>/
# (only the seed-* files are in git); a crashing input is written to
# fuzz/artifacts/<target>/ and stops that target. The log of each run is
# fuzz/logs/<target>.log. A summary line per target, with its executions,
# is printed at the end; the exit status is non-zero if any target failed.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-600}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

nice -n 10 cargo +nightly fuzz build || exit 1
mkdir -p logs
summary=()
failed=0
for target in "${targets[@]}"; do
    log="logs/$target.log"
    started=$(date +%s)
    # One process on one core (libFuzzer's default: no -jobs/-workers
    # fan-out). -timeout: one input taking over 10 s is a hang;
    # -rss_limit_mb: the sidecar must not need more for one input.
    nice -n 10 cargo +nightly fuzz run "$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1
    status=$?
    elapsed=$(( $(date +%s) - started ))
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ "$status" -eq 0 ]; then
        result="ok"
    else
        result="FAILED (exit $status; see $log and artifacts/$target/)"
        failed=1
    fi
    line="$target: ${elapsed}s, ${runs:-?} executions, $result"
    echo "$line"
    summary+=("$line")
done
echo "== $(date -u +%Y-%m-%dT%H:%MZ), ${seconds}s per target"
printf '%s\n' "${summary[@]}"
exit "$failed"
