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
  echo "client tests: no chromium at ${CHROMIUM:-/usr/bin/chromium} (scripts/setup-tests.sh installs it)" >&2; exit 1; }

./setup.sh

# The server under test (debug build; cargo test has usually built it already).
if [ -z "${SUTURE_BIN:-}" ]; then
  (cd "$REPO" && cargo build --quiet -p suture --bin suture)
fi

exec .venv/bin/python -m pytest "$@"
