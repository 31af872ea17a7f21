"""The README's "From Python" and "On Spark" snippets run as written, in
that order, in one fresh folder (the Spark one scores the file the first
one saved)."""

import os
import re
import subprocess
import sys

from conftest import REPO


def snippets(section: str) -> str:
    text = (REPO / "README.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", body, re.S)
    assert blocks, f"no python snippet under '## {section}'"
    return "\n".join(blocks)


def run(code: str, cwd) -> str:
    # As in an activated virtualenv: `python3` (Spark's default worker
    # Python) is this one.
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("PYSPARK_PYTHON", None)
    r = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_readme_snippets_run(tmp_path):
    out = run(snippets("From Python"), tmp_path)
    assert out.startswith("OutlierAEGMM ")
    assert (tmp_path / "demo.oddity").exists()
    out = run(snippets("On Spark"), tmp_path)
    assert "is_outlier" in out
