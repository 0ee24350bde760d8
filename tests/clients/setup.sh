#!/usr/bin/env bash
# Installs the client tests' clients, idempotently (cheap when nothing changed):
# the pinned Python venv, the locked npm packages, and the @sentry/browser bundle.
# Called by run.sh and by scripts/setup-tests.sh (which also installs Debian's chromium).
set -euo pipefail
cd "$(dirname "$0")"

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
