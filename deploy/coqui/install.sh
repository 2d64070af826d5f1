#!/usr/bin/env bash
# Creates the Coqui speak worker's environment: deploy/coqui/install.sh [VENV]
# (default .venv-coqui at the checkout's root). The main process runs
# `<VENV>/bin/python -m tts.coqui_worker` in it; nothing else uses it.
# Re-running is instant while requirements.txt is unchanged.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${1:-.venv-coqui}"
REQS=deploy/coqui/requirements.txt
STAMP="$VENV/.installed"
PYTHON="${PYTHON:-python3.11}"

if [ -f "$STAMP" ] && cmp -s "$REQS" "$STAMP"; then
  echo "$VENV is up to date"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r "$REQS"
# The stamp holds the requirements it was built from, so a changed pin reinstalls.
cp "$REQS" "$STAMP"
echo "$VENV is ready"
