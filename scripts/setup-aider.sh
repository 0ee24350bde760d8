#!/usr/bin/env bash
# Installs the aider coding agent (PyPI `aider-chat`, pinned) into its own
# cached venv, for the tests that drive a real third-party agent; prints the
# path of its `aider` executable on stdout (everything else goes to stderr).
#   scripts/setup-aider.sh                    -> .cache/aider-venv/bin/aider
#   SUTURE_AIDER_VENV=/tmp/v scripts/setup-aider.sh
#
# Idempotent and cheap when done: the venv is rebuilt only when the pin below
# changes (a stamp file records what was installed, written last, so an
# interrupted install is redone). aider has its own venv, apart from the
# client tests' one, because it pins ~100 packages (openai, litellm, numpy...)
# that would otherwise fight the clients' pins.
# Not `aider-install`: that helper uses uv and may fetch a Python build,
# which cannot be downloaded here; pip with the machine's python3 is enough.
set -euo pipefail
cd "$(dirname "$0")/.."

# The version the coder's tests are written against (see
# shared research on external agents: flags checked against its args.py).
AIDER_PIN="aider-chat==0.86.2"
VENV="${SUTURE_AIDER_VENV:-$PWD/.cache/aider-venv}"

if [ ! -x "$VENV/bin/aider" ] || [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$AIDER_PIN" ]; then
  echo "setup-aider: installing $AIDER_PIN into $VENV (once; about a minute)" >&2
  command -v python3 >/dev/null || { echo "setup-aider: python3 is missing" >&2; exit 1; }
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-input "$AIDER_PIN" >&2
  # A broken install (a missing wheel, an import error) fails here, not in a test.
  "$VENV/bin/aider" --version >&2
  echo "$AIDER_PIN" >"$VENV/.installed"
fi
echo "$VENV/bin/aider"
