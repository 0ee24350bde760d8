#!/usr/bin/env bash
# Installs everything the tests need beyond the Rust toolchain, on a fresh
# Debian machine (as root) or an already set-up one; each step runs only when
# its result is missing or out of date, so a second run takes about a second.
#   - Debian packages: git (triage and the coder read real repositories) and
#     chromium (the browser client tests), via apt-get, only when missing;
#   - the client tests' pinned Python venv, locked npm packages and browser
#     bundle (tests/clients/setup.sh);
#   - the aider coding agent in a cached venv (scripts/setup-aider.sh; its
#     path is what `scripts/setup-aider.sh` prints).
# Called by scripts/test.sh (the README's test command), hence by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, by the command they provide. apt-get update runs only when
# something is missing; the lock timeout lets a concurrent apt (another
# session, unattended upgrades) finish instead of failing this run.
missing=()
command -v git >/dev/null || missing+=(git)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-tests: missing ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup-tests: apt-get install ${missing[*]}" >&2
  apt_options=(-qq -o DPkg::Lock::Timeout=600)
  apt-get "${apt_options[@]}" update
  DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install -y "${missing[@]}" >/dev/null
fi

for tool in python3 node npm; do
  command -v "$tool" >/dev/null || { echo "setup-tests: $tool is missing" >&2; exit 1; }
done

tests/clients/setup.sh
scripts/setup-aider.sh >/dev/null
