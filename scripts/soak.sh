#!/usr/bin/env bash
# The soak run (issue 16, Proof 4): the release binary under an hour of
# steady mixed load, sampled every minute. Documented, not part of CI.
#
#   scripts/soak.sh            # 60 minutes
#   scripts/soak.sh 5 rehearsal            # 5 minutes, docs/soak/rehearsal.{csv,svg}
#   SUTURE_GATE__MINUTE_RETENTION=5m scripts/soak.sh 15 short-retention
#                              # SUTURE_* variables override the run's config
#
# Builds `suture` in release, starts the LLM stub (scripts/soak/llm_stub.py)
# and a sidecar on free loopback ports with a fresh store, a two-minute
# gate window and the stub as its LLM, then runs scripts/soak/load.py:
# native HTTP events, GELF over UDP (plain, gzip, chunked), Sentry
# envelopes with sessions, session-only envelopes, a deploy every five
# minutes. One CSV row a minute (RSS, open files, store size, p99 ack
# latency, ...) goes to target/soak/<run>/soak.csv, and every ten minutes
# the store's entries and bytes per tree to soak-trees.csv; at the end the CSVs and
# an SVG plot of it are copied to docs/soak/<name>.{csv,svg}. Everything runs under
# `nice -n 10`; the sidecar and the stub are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes="${1:-60}"
name="${2:-soak}"
run="target/soak/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$run" docs/soak

nice -n 10 cargo build --release -p suture
bin=target/release/suture

free_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.'"$1"'); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
http_port=$(free_port SOCK_STREAM)
udp_port=$(free_port SOCK_DGRAM)
llm_port=$(free_port SOCK_STREAM)

cat >"$run/config.toml" <<TOML
[server]
http_addr = "127.0.0.1:$http_port"
udp_addr = "127.0.0.1:$udp_port"

[store]
path = "$run/data"

[gate]
window = "2m"
settle = "0s"

[llm]
base_url = "http://127.0.0.1:$llm_port/v1"
model = "soak-stub"
hourly_token_budget = 0
daily_token_budget = 0
TOML

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

nice -n 10 python3 scripts/soak/llm_stub.py "$llm_port" &
pids+=($!)
SUTURE_LOG__LEVEL=warn nice -n 10 "$bin" serve --config "$run/config.toml" >"$run/sidecar.log" 2>&1 &
sidecar=$!
pids+=("$sidecar")

for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null

echo "soak: $minutes min against pid $sidecar (http $http_port, udp $udp_port), in $run"
nice -n 10 python3 scripts/soak/load.py "http://127.0.0.1:$http_port" "$udp_port" \
    "$sidecar" "$run/data" "$minutes" "$run/soak.csv" | tee "$run/load.log"
kill -0 "$sidecar" # still up after the run, or the soak failed

python3 scripts/soak/plot.py "$run/soak.csv" "$run/soak.svg"
cp "$run/soak.csv" "docs/soak/$name.csv"
cp "$run/soak.svg" "docs/soak/$name.svg"
cp "$run/soak-trees.csv" "docs/soak/$name-trees.csv"
echo "soak: done; docs/soak/$name.csv, $name-trees.csv and $name.svg"
