"""Ship the top-level datasets/ and pipelines/ folders inside the installed package.

The repository keeps benchmark definitions and pipeline configurations at the top
level (they are data, not code).  An installed, non-editable facebench must still find
them, so the build copies them to ``facebench/datasets`` and ``facebench/pipelines``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
DATA_DIRS = ("datasets", "pipelines")


class BuildWithData(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        for name in DATA_DIRS:
            for src in sorted((ROOT / name).rglob("*")):
                if src.is_file() and "__pycache__" not in src.parts:
                    dst = Path(self.build_lib) / "facebench" / src.relative_to(ROOT)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildWithData})
