"""Find the data folders that ship with facebench (``datasets/``, ``pipelines/``).

In a source checkout or editable install they are the repository's top-level
folders; in an installed wheel they are copied inside the package (see setup.py).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Path of the shipped data folder ``name`` ("datasets" or "pipelines")."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"facebench data folder {name!r} not found next to {_PACKAGE}")


def datasets_dir() -> Path:
    return data_dir("datasets")


def pipelines_dir() -> Path:
    return data_dir("pipelines")
