#!/usr/bin/env bash
# Runs every test of the workspace: unit tests beside the code, the engine's
# tests (grouping corpus, property tests, paused-clock queue tests), and the
# integration tests that start the real server and the real binary; then the
# client tests: real Sentry SDKs, a GELF library and headless chromium against
# the real binary (tests/clients/run.sh sets up what they need).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
tests/clients/run.sh
