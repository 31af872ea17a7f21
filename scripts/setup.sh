#!/usr/bin/env bash
# One-time set-up for oddity: make a libtorch 2.13.0 available and point the
# build at it. Safe to run again: every step is skipped when already done.
#
# Where libtorch comes from, first match wins:
#   1. $LIBTORCH, if the user points it at an existing libtorch folder;
#   2. the reusable cache  ${ODDITY_CACHE:-~/.cache/oddity}/torch-2.13.0;
#   3. an installed PyTorch 2.13.0 of the current python3;
#   4. otherwise `pip install torch==2.13.0` into that cache (about 4.7 GB).
# The result is recorded as the link `.libtorch` in the repo (git-ignored);
# `.cargo/config.toml` hands it to the tch build, and build.rs bakes it into
# every binary's rpath, so nothing has to be exported afterwards.
set -euo pipefail

TORCH_VERSION="2.13.0"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
cache="${ODDITY_CACHE:-${XDG_CACHE_HOME:-$home/.cache}/oddity}"
target="$cache/torch-$TORCH_VERSION"
log() { echo "[oddity setup] $*" >&2; }

has_libtorch() { [ -f "$1/lib/libtorch_cpu.so" ] && [ -d "$1/include" ]; }

pick=""
if [ -n "${LIBTORCH:-}" ]; then
  has_libtorch "$LIBTORCH" || { log "LIBTORCH=$LIBTORCH has no lib/libtorch_cpu.so"; exit 1; }
  pick="$LIBTORCH"; log "using LIBTORCH=$pick"
elif has_libtorch "$target/site-packages/torch"; then
  pick="$target/site-packages/torch"; log "using cached $pick"
else
  py_torch="$(python3 - <<PY 2>/dev/null || true
import torch, os
if torch.__version__.split('+')[0] == "$TORCH_VERSION":
    print(os.path.dirname(torch.__file__))
PY
)"
  if [ -n "$py_torch" ] && has_libtorch "$py_torch"; then
    pick="$py_torch"; log "using the installed PyTorch at $pick"
  else
    log "installing torch==$TORCH_VERSION into $target (one time, a few minutes)"
    mkdir -p "$cache"
    tmp="$(mktemp -d "$cache/.torch-install.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip install --quiet --disable-pip-version-check --no-input --root-user-action=ignore \
      --target "$tmp/site-packages" "torch==$TORCH_VERSION"
    has_libtorch "$tmp/site-packages/torch" || { log "pip did not produce a libtorch"; exit 1; }
    rm -rf "$target"
    mv "$tmp" "$target"   # atomic: a half-finished install never looks complete
    trap - EXIT
    pick="$target/site-packages/torch"
  fi
fi

ln -sfn "$pick" "$repo/.libtorch"
log "libtorch: $pick (linked as .libtorch)"
