#!/usr/bin/env bash
# Standard Suture ingest benchmark: builds the release server and
# suture-bench, then for each scenario starts a fresh `suture serve` (temp
# data dir, free loopback ports), waits for /healthz, runs the load, prints
# the figures and stops the server. A fresh server per scenario keeps the
# store size and the peak RSS of one scenario out of the next.
#
# Usage: bash bench/run.sh
# Env:   BENCH_DURATION (10s)  BENCH_WARMUP (2s, HTTP only)
#        BENCH_JSON=1          print one JSON object per scenario instead
#        SUTURE_BIN=path       use this server binary and skip building it
#        CARGO_TARGET_DIR      honoured, as cargo does
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${BENCH_DURATION:-10s}"
WARMUP="${BENCH_WARMUP:-2s}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
JSON_FLAG=()
[[ "${BENCH_JSON:-}" == 1 ]] && JSON_FLAG=(--json)

if [[ -n "${SUTURE_BIN:-}" ]]; then
  SERVER="$SUTURE_BIN"
  cargo build --release -p suture-bench
else
  SERVER="$TARGET_DIR/release/suture"
  cargo build --release -p suture -p suture-bench
fi
BENCH="$TARGET_DIR/release/suture-bench"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/suture-bench.XXXXXX")"
SERVER_PID=""

stop_server() {
  [[ -z "$SERVER_PID" ]] && return 0
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 300); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server $SERVER_PID still running 30s after SIGTERM; killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME: fresh data dir and ports; sets SERVER_PID, HTTP, UDP.
start_server() {
  local name="$1" ports dir
  ports="$("$BENCH" free-ports)"
  read -r HTTP_PORT UDP_PORT <<<"$ports"
  HTTP="127.0.0.1:$HTTP_PORT"
  UDP="127.0.0.1:$UDP_PORT"
  dir="$WORK/$name"
  mkdir -p "$dir/data"
  cat >"$dir/suture.toml" <<EOF
[server]
http_addr = "$HTTP"
udp_addr = "$UDP"

[store]
path = "$dir/data"
EOF
  SUTURE_SERVER__HTTP_ADDR="$HTTP" SUTURE_SERVER__UDP_ADDR="$UDP" \
    SUTURE_STORE__PATH="$dir/data" \
    "$SERVER" serve --config "$dir/suture.toml" >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  if ! "$BENCH" wait-healthy "http://$HTTP/healthz" --timeout 30s; then
    echo "server for '$name' did not become healthy; its log:" >&2
    tail -n 40 "$dir/server.log" >&2 || true
    exit 1
  fi
}

# scenario NAME MODE ARGS...: one run of `suture-bench MODE` against a fresh
# server; the target address is filled in once the server has its ports.
scenario() {
  local name="$1" mode="$2" target
  shift 2
  start_server "$name"
  if [[ "$mode" == http ]]; then target=(--url "http://$HTTP"); else target=(--addr "$UDP"); fi
  # Headings go to stderr so that with BENCH_JSON=1 stdout is JSON lines only.
  printf '\n=== %s ===\n' "$name" >&2
  "$BENCH" "$mode" "${target[@]}" "$@" --label "$name" \
    --server-pid "$SERVER_PID" --metrics-url "http://$HTTP/metrics" "${JSON_FLAG[@]}"
  stop_server
}

echo "suture-bench: $(nproc) cores, duration $DURATION, server $SERVER" >&2

scenario http-single-64conn http --connections 64 --batch 1 --duration "$DURATION" --warmup "$WARMUP"
# Group commit needs requests in flight to fill a group: with more
# connections, each flush carries more requests.
scenario http-single-512conn http --connections 512 --threads 2 --batch 1 --duration "$DURATION" --warmup "$WARMUP"
scenario http-batch50-16conn http --connections 16 --batch 50 --duration "$DURATION" --warmup "$WARMUP"
scenario udp-max-rate udp --rate 0 --duration "$DURATION"
scenario udp-50k udp --rate 50000 --duration "$DURATION"
