"""Paths and settings, one object, with environment overrides.

``FACEBENCH_HOME`` (default ``~/.facebench``) holds prepared ground truth under
``gt/{benchmark}`` and caches (the built template) under ``cache/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path

    @property
    def gt_root(self) -> Path:
        return self.home / "gt"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def gt_dir(self, benchmark: str) -> Path:
        return self.gt_root / benchmark


def get_settings() -> Settings:
    home = os.environ.get("FACEBENCH_HOME") or str(Path.home() / ".facebench")
    return Settings(home=Path(home).expanduser())
