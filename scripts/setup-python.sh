#!/usr/bin/env bash
# Set-up for the Python package and its tests, after scripts/setup.sh.
# Safe to run again: every step is skipped when already done.
#
#   1. Java 17+ for Spark: Debian's openjdk-17-jre-headless through apt-get
#      when no `java` is found (root, or sudo).
#   2. A virtualenv, reused across checkouts and runs:
#      ${ODDITY_CACHE:-~/.cache/oddity}/py-venv, with python/requirements-test.txt.
#      torch 2.13.0 is the libtorch scripts/setup.sh found or installed (the
#      `.libtorch` link): a .pth file puts its site-packages on the venv's
#      path, so pip sees torch==2.13.0 as installed and nothing downloads it.
#   3. The wheel, built by maturin into target/wheels/ and installed into
#      the venv (pip --no-deps --force-reinstall: the code changes, the
#      version does not).
# Prints the venv's python as its last line.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
cache="${ODDITY_CACHE:-${XDG_CACHE_HOME:-$home/.cache}/oddity}"
venv="${ODDITY_PY_VENV:-$cache/py-venv}"
log() { echo "[oddity setup-python] $*" >&2; }

[ -e "$repo/.libtorch/lib/libtorch_cpu.so" ] || { log "no .libtorch: run ./scripts/setup.sh first"; exit 1; }

# 1. Java.
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ] 2>/dev/null; then
  log "installing openjdk-17-jre-headless (Spark needs Java 17+)"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

# 2. The virtualenv.
req="$repo/python/requirements-test.txt"
stamp="$venv/.oddity-requirements"
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  python3 -m venv "$venv"
fi
if ! cmp -s "$req" "$stamp"; then
  log "installing $(grep -v '^#' "$req" | tr '\n' ' ')into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
  cp "$req" "$stamp"
fi
torch_site="$(dirname "$(readlink -f "$repo/.libtorch")")"
if ! "$venv/bin/python" -c 'import torch, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  log "torch 2.13.0 for the venv: $torch_site (via $site/_oddity_torch.pth)"
  echo "$torch_site" > "$site/_oddity_torch.pth"
fi

# 3. The wheel.
rm -f "$repo"/target/wheels/oddity-*.whl
(cd "$repo/python" && PATH="$venv/bin:$PATH" maturin build --release --quiet >&2)
wheel="$(ls "$repo"/target/wheels/oddity-*.whl)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$wheel"
log "installed $wheel"
echo "$venv/bin/python"
