#!/usr/bin/env bash
# Runs every test of the workspace: unit tests beside the code, the engine's
# tests (grouping corpus, property tests, paused-clock queue tests), and the
# integration tests that start the real server and the real binary; then the
# client tests: real Sentry SDKs, a GELF library and headless chromium against
# the real binary.
# First it installs what the tests need (scripts/setup-tests.sh: git and
# chromium from Debian, the client tests' Python and npm packages, the aider
# agent), so it passes on a fresh machine; when all is installed that step
# takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-tests.sh
# Tests that drive the real aider agent find it here.
SUTURE_AIDER_BIN=$(scripts/setup-aider.sh)
export SUTURE_AIDER_BIN
cargo test --workspace --all-targets
tests/clients/run.sh
