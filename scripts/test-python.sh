#!/usr/bin/env bash
# The Python tests: the numpy API against the CLI, Spark local[2], and a
# standalone Spark cluster on 127.0.0.1. Sets up what it needs first
# (scripts/setup-python.sh); extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# The CLI and the Rust API example the tests compare with.
cargo build --release --bin oddity --example score_file
python="$(./scripts/setup-python.sh | tail -1)"
# From the repo root, so that `import oddity` is the installed wheel, not python/oddity.
exec "$python" -m pytest -q python/tests "$@"
