#!/usr/bin/env bash
# Runs the workspace's integration test binaries (tests/ and actors/tests/;
# with -a the unit tests too) over and over while every core is kept busy,
# and reports each test that failed at least once, with how often. A test
# that fails only here depends on scheduling: fix it by asserting only what
# the code guarantees.
#   scripts/stress-tests.sh [-r ROUNDS] [-f FILTER] [-j LOADERS] [-t SECONDS] [-l LIST] [-a]
#     -r ROUNDS   rounds of every binary (default 10)
#     -f FILTER   only tests whose name contains FILTER (libtest's filter)
#     -j LOADERS  CPU hogs to run beside the tests (default: one per core; 0: none)
#     -t SECONDS  a binary still running after this long is killed and
#                 counted as hung (default 900)
#     -l LIST     run the binaries listed in LIST (an earlier run's
#                 target/stress/*/binaries.tsv) instead of building: to rerun
#                 the very same binaries, or compare two builds side by side
#     -a          also the unit tests beside the code (lib and bin targets)
# The load is stress-ng when it is installed (apt-get install stress-ng),
# else busy shell loops. Logs of every failing run are kept under
# target/stress/. Exit status 1 when any test failed.
#
# The test binaries are found by building them with cargo's JSON messages,
# not by name, so the script follows test files as they are added, renamed or
# merged into one binary per crate.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=10
filter=""
loaders=$(nproc)
limit=900
list=""
all=0
while getopts "r:f:j:t:l:ah" opt; do
  case "$opt" in
    r) rounds=$OPTARG ;;
    f) filter=$OPTARG ;;
    j) loaders=$OPTARG ;;
    t) limit=$OPTARG ;;
    l) list=$OPTARG ;;
    a) all=1 ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[0-9]+$ && "$loaders" =~ ^[0-9]+$ && "$limit" =~ ^[0-9]+$ ]] || {
  echo "stress-tests: -r, -j and -t take whole numbers" >&2; exit 2; }

# What the tests need (idempotent; about a second when already done).
scripts/setup-tests.sh
SUTURE_AIDER_BIN=$(scripts/setup-aider.sh)
export SUTURE_AIDER_BIN

out=target/stress/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$out"

# Build every test target once; list "package<TAB>target<TAB>kind<TAB>dir<TAB>executable".
if [ -n "$list" ]; then
  cp "$list" "$out/binaries.tsv"
else
  echo "stress-tests: building the test binaries" >&2
  targets=(--test '*')
  [ "$all" -eq 0 ] || targets=(--tests)
  cargo test --workspace "${targets[@]}" --no-run --message-format=json-render-diagnostics >"$out/build.json"
  cargo metadata --no-deps --format-version 1 >"$out/metadata.json"
  python3 - "$out/build.json" "$out/metadata.json" >"$out/binaries.tsv" <<'PY'
import json, os, sys
packages = {p["manifest_path"]: p["name"] for p in json.load(open(sys.argv[2], encoding="utf-8"))["packages"]}
seen = set()
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    exe = msg.get("executable")
    if msg.get("reason") != "compiler-artifact" or not exe or not msg["profile"]["test"] or exe in seen:
        continue
    seen.add(exe)
    manifest = msg["manifest_path"]
    target = msg["target"]
    print("\t".join([packages.get(manifest, "?"), target["name"], target["kind"][0], os.path.dirname(manifest), exe]))
PY
fi
count=$(wc -l <"$out/binaries.tsv")
[ "$count" -gt 0 ] || { echo "stress-tests: cargo built no test binary" >&2; exit 1; }
echo "stress-tests: $count test binaries, $rounds rounds, $loaders CPU hogs" >&2

# The load, ended with the script (by the ids started here, nothing else).
hogs=()
stop_load() {
  if [ "${#hogs[@]}" -gt 0 ]; then
    kill "${hogs[@]}" 2>/dev/null || true
    wait "${hogs[@]}" 2>/dev/null || true
  fi
}
trap stop_load EXIT
trap 'exit 130' INT TERM
if [ "$loaders" -gt 0 ]; then
  if command -v stress-ng >/dev/null; then
    stress-ng --cpu "$loaders" --quiet &
    hogs+=($!)
  else
    for _ in $(seq "$loaders"); do
      bash -c 'while :; do :; done' &
      hogs+=($!)
    done
  fi
fi

# One line per test outcome: "round<TAB>binary<TAB>test<TAB>ok|FAILED|hung|crashed".
results="$out/results.tsv"
: >"$results"
for round in $(seq "$rounds"); do
  started=$(date +%s)
  while IFS=$'\t' read -r package target kind dir exe; do
    [ "$kind" = test ] || [ "$all" -eq 1 ] || continue
    label="$package/$target"
    [ "$kind" = test ] || label="$package/$target($kind)"
    log="$out/round-$round.${package}.${target}.${kind}.log"
    status=0
    # cargo runs a test with the package folder as its working directory.
    (cd "$dir" && CARGO_MANIFEST_DIR="$dir" timeout --kill-after=10 "$limit" "$exe" ${filter:+"$filter"}) \
      >"$log" 2>&1 </dev/null || status=$?
    # libtest prints "test <name> ... ok|FAILED|ignored" once per test.
    sed -n -E 's/^test (.+) \.\.\. (ok|FAILED)$/\1\t\2/p' "$log" |
      awk -F'\t' -v r="$round" -v b="$label" '{ print r "\t" b "\t" $1 "\t" $2 }' >>"$results"
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
      printf '%s\t%s\t%s\t%s\n' "$round" "$label" "(the whole binary)" "hung" >>"$results"
    elif [ "$status" -ne 0 ] && ! grep -q $'\tFAILED$' <(awk -F'\t' -v r="$round" -v b="$label" '$1==r && $2==b' "$results"); then
      # Non-zero with no failed test: a crash (abort, signal) or a build problem.
      printf '%s\t%s\t%s\t%s\n' "$round" "$label" "(the whole binary, exit $status)" "crashed" >>"$results"
    fi
    if [ "$status" -eq 0 ]; then rm -f "$log"; fi
  done <"$out/binaries.tsv"
  failed=$(awk -F'\t' -v r="$round" '$1==r && $4!="ok"' "$results" | wc -l)
  echo "stress-tests: round $round/$rounds: $failed failed ($(($(date +%s) - started)) s)" >&2
done

echo
ran=$(awk -F'\t' '$4=="ok" || $4=="FAILED"' "$results" | wc -l)
bad=$(awk -F'\t' '$4!="ok"' "$results" | wc -l)
echo "stress-tests: $rounds rounds, $ran test runs, $bad failures; logs in $out"
if [ "$bad" -eq 0 ]; then
  exit 0
fi
echo "failures / rounds  binary  test"
awk -F'\t' -v n="$rounds" '$4!="ok" { c[$2 "\t" $3 " [" $4 "]"]++ }
  END { for (k in c) { split(k, p, "\t"); printf "%4d / %-4d %s  %s\n", c[k], n, p[1], p[2] } }' "$results" | sort -rn
exit 1
