"""Every shell example in the README that needs no external data runs as written.

Blocks fenced as ```bash are run, in order, in one scratch folder (a fresh
FACEBENCH_HOME), then the ```python blocks, each as one script in the same folder;
blocks fenced as ```text or ```console are illustrations that need data or clusters
we do not have here (real NeRSemble, FLAME pickles, a Dask scheduler) and are not run.
`make demo` / `make test` are not re-run from here.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#") and not line.startswith("make "):
                commands.append(line)
    return commands


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_has_quick_start():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text


@pytest.mark.slow
def test_readme_examples_run(tmp_path):
    commands = readme_commands()
    assert len(commands) >= 8
    env = dict(os.environ, FACEBENCH_HOME=str(tmp_path / "home"),
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for command in commands:
        assert command.startswith(("facebench ", "python ", "ls ", "cat ")), command
        out = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=600)
        assert out.returncode == 0, f"README command failed: {command}\n{out.stderr[-2000:]}"
    for block in readme_python_blocks():
        out = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, f"README python example failed:\n{block}\n{out.stderr[-2000:]}"
