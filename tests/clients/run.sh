#!/usr/bin/env bash
# The client tests: real SDKs and loggers against a real `suture serve`.
# Sets up what they need (idempotent, cheap when already done), then runs pytest.
#   tests/clients/run.sh [pytest args]       e.g. -k gelf, -x
# Needs: python3 (venv), node + npm, /usr/bin/chromium (apt-get install chromium), cargo.
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd ../.. && pwd)

for tool in python3 node npm cargo; do
  command -v "$tool" >/dev/null || { echo "client tests: $tool is missing" >&2; exit 1; }
done
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || {
  echo "client tests: no chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install -y chromium)" >&2; exit 1; }

# Python clients, pinned. Reinstalled only when requirements.txt changes.
if [ ! -x .venv/bin/python ] || ! cmp -s requirements.txt .venv/.installed; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/.installed
fi

# JavaScript clients, exactly as locked. Reinstalled only when the lock changes.
if [ ! -d node_modules ] || ! cmp -s package-lock.json node_modules/.package-lock.json.installed; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.package-lock.json.installed
fi

# @sentry/browser has no prebuilt browser bundle in its npm package: bundle it.
mkdir -p build
node_modules/.bin/esbuild apps/browser_entry.js --bundle --format=iife --log-level=warning \
  --outfile=build/sentry-browser.js

# The server under test (debug build; cargo test has usually built it already).
if [ -z "${SUTURE_BIN:-}" ]; then
  (cd "$REPO" && cargo build --quiet -p suture --bin suture)
fi

exec .venv/bin/python -m pytest "$@"
