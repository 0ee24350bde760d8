#!/usr/bin/env bash
# Regenerates docs/dashboard/*.png, one screenshot per view (and the ticket
# view at a phone's width), with the same harness as the dashboard's
# browser test: the real binary, real tickets, a fix in review, a running
# agent (tests/system/dashboard.rs, tests/dashboard/check.mjs).
# Needs what the test needs: chromium, node, tests/clients/node_modules and
# a python with pytest (scripts/setup-tests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/docs/dashboard"
mkdir -p "$out"
command -v node >/dev/null || { echo "node is missing (scripts/setup-tests.sh)" >&2; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "chromium is missing (scripts/setup-tests.sh)" >&2; exit 1; }
DASH_SCREENSHOTS="$out" cargo test -p suture --test system dashboard -- --nocapture
ls -1 "$out"/*.png
