#!/usr/bin/env bash
# Sentry envelope ingest, Suture vs Bugsink (pip package `bugsink`, SQLite,
# its documented single-server setup), side by side in one run, driven by the
# same client: `suture-bench sentry` posting a real sentry-python envelope
# (bench/fixtures) with a fresh event_id per request, uncompressed and brotli.
#
#   bash bench/bugsink.sh        BENCH_DURATION=10s BENCH_WARMUP=2s BUGSINK_WORKERS=10
#
# Bugsink answers 200 once an event is written to its ingest directory and
# queued; a background worker (snappea) digests it later. Its HTTP figure is
# measured with the digest worker stopped (all CPU to HTTP: its best case),
# at the connection count where it does best; its digest rate is measured
# alone afterwards. Suture's 200 means stored and grouped, on disk.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DUR=${BENCH_DURATION:-10s}
WARM=${BENCH_WARMUP:-2s}
WORKERS=${BUGSINK_WORKERS:-10}   # gunicorn --workers in Bugsink's single-server guide
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH=$TARGET/release/suture-bench
SUTURE=${SUTURE_BIN:-$TARGET/release/suture}
VENV=$ROOT/bench/.venv-bugsink

cargo build --release --quiet -p suture -p suture-bench
if [ ! -x "$VENV/bin/bugsink-manage" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check bugsink==2.6.1
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d['$1'])"; }
load() { # URL KEY ENCODING CONNECTIONS DURATION WARMUP [more args] -> JSON report
  "$BENCH" sentry "${@:7}" --url "$1" --key "$2" --encoding "$3" --connections "$4" \
    --duration "$5" --warmup "$6" --fixture bench/fixtures/sentry-python-envelope.json --json
}

# ---- Bugsink: the singleserver configuration, quotas lifted (we measure capacity).
mkdir -p "$WORK/bugsink" && cd "$WORK/bugsink"
read -r BPORT _ < <("$BENCH" free-ports)
"$VENV/bin/bugsink-create-conf" --template=singleserver --base-dir="$WORK/bugsink" --host=127.0.0.1 --port="$BPORT" >/dev/null
cat >> bugsink_conf.py <<'CONF'
for k in ("5_MINUTES", "HOUR", "MONTH"):
    BUGSINK["MAX_EVENTS_PER_" + k] = BUGSINK["MAX_EVENTS_PER_PROJECT_PER_" + k] = 10**12
CONF
M="$VENV/bin/bugsink-manage"
$M migrate -v0 && $M migrate snappea --database=snappea -v0
BKEY=$($M shell -c "
from teams.models import Team; from projects.models import Project
p = Project.objects.create(name='bench', slug='bench', team=Team.objects.create(name='bench'))
print('KEY', p.sentry_key.hex)" 2>/dev/null | awk '/^KEY/{print $2}')
digested() { (cd "$WORK/bugsink" && $M shell -c "from projects.models import Project; print('N', Project.objects.get(slug='bench').digested_event_count)" 2>/dev/null) | awk '/^N/{print $2}'; }
"$VENV/bin/gunicorn" --bind="127.0.0.1:$BPORT" --workers="$WORKERS" --timeout=6 \
  --max-requests=1000 --max-requests-jitter=100 bugsink.wsgi >gunicorn.log 2>&1 &
PIDS+=($!)
until curl -sf -o /dev/null "http://127.0.0.1:$BPORT/accounts/login/"; do sleep 0.2; done
cd "$ROOT"

echo "== Bugsink $("$VENV/bin/bugsink-show-version" 2>/dev/null), gunicorn $WORKERS workers: connection sweep (5 s each, identity)" >&2
BEST_C=1 BEST=0
for c in ${BUGSINK_SWEEP:-1 2 4 8 16 32 64}; do
  r=$(load "http://127.0.0.1:$BPORT" "$BKEY" identity "$c" 5s 1s | field events_per_sec)
  echo "   $c connections: $r events/s" >&2
  if python3 -c "import sys; sys.exit(not $r > $BEST)"; then BEST=$r BEST_C=$c; fi
done
B_ID=$(load "http://127.0.0.1:$BPORT" "$BKEY" identity "$BEST_C" "$DUR" "$WARM")
B_BR=$(load "http://127.0.0.1:$BPORT" "$BKEY" br "$BEST_C" "$DUR" "$WARM" --pool 20000)

# Digest: start the worker on the backlog and count what it finishes in 20 s, with no HTTP load.
(cd "$WORK/bugsink" && exec "$VENV/bin/bugsink-runsnappea" >snappea.log 2>&1) &
PIDS+=($!)
sleep 5
D0=$(digested); T0=$(date +%s.%N); sleep 20; D1=$(digested); T1=$(date +%s.%N)
B_DIGEST=$(python3 -c "print(round(($D1 - $D0) / ($T1 - $T0), 1))")
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; PIDS=()

# ---- Suture: a fresh release server, default config, temporary store.
read -r SPORT SUDP < <("$BENCH" free-ports)
export SUTURE_SERVER__HTTP_ADDR=127.0.0.1:$SPORT SUTURE_SERVER__UDP_ADDR=127.0.0.1:$SUDP SUTURE_STORE__PATH=$WORK/suture
"$SUTURE" serve --config config.toml 2>"$WORK/suture.log" &
PIDS+=($!)
"$BENCH" wait-healthy "http://127.0.0.1:$SPORT/healthz"
SKEY=$("$SUTURE" dsn --config config.toml | python3 -c "import sys, urllib.parse; print(urllib.parse.urlsplit(sys.stdin.read().split()[-1]).username)")
S_C=${SUTURE_CONNECTIONS:-64}
S_ID=$(load "http://127.0.0.1:$SPORT" "$SKEY" identity "$S_C" "$DUR" "$WARM")
S_BR=$(load "http://127.0.0.1:$SPORT" "$SKEY" br "$S_C" "$DUR" "$WARM" --pool 150000)

python3 - "$B_ID" "$B_BR" "$S_ID" "$S_BR" "$BEST_C" "$S_C" "$B_DIGEST" <<'PY'
import json, sys
b_id, b_br, s_id, s_br = (json.loads(a) for a in sys.argv[1:5])
bc, sc, digest = sys.argv[5], sys.argv[6], float(sys.argv[7])
print(f"{'encoding':<10} {'Suture ev/s':>12} {'p50 ms':>8} {'Bugsink ev/s':>13} {'p50 ms':>8} {'ratio':>8}")
for name, s, b in (("identity", s_id, b_id), ("br", s_br, b_br)):
    for r in (s, b):
        if r["errors"] or r["other_status"]:
            print(f"  note: {r['url']} {name}: errors {r['errors']} {r['first_error']}, statuses {r['other_status']}")
    ratio = s["events_per_sec"] / b["events_per_sec"] if b["events_per_sec"] else float("inf")
    print(f"{name:<10} {s['events_per_sec']:>12,.0f} {s['latency_p50_ms']:>8.2f} {b['events_per_sec']:>13,.1f} "
          f"{b['latency_p50_ms']:>8.2f} {ratio:>7.0f}x")
print(f"Suture at {sc} connections (200 = stored, grouped, on disk); Bugsink at {bc} connections, its best "
      f"(200 = written to its ingest dir and queued, digest worker stopped).")
print(f"Bugsink digest worker alone: {digest} events/s fully digested; "
      f"Suture identity / Bugsink digested = {s_id['events_per_sec'] / digest:,.0f}x" if digest else "")
PY
