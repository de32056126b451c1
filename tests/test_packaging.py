"""An installed (non-editable) facebench finds its shipped datasets/ and pipelines/."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("facebench", "datasets", "pipelines"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, capture_output=True)
    (whl,) = out.glob("facebench-*.whl")
    return whl


def _data_files(folder):
    return sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def test_wheel_ships_data_folders(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _data_files("datasets") + _data_files("pipelines")
    assert expected, "datasets/ and pipelines/ should not be empty"
    missing = [f for f in expected if f"facebench/{f}" not in names]
    assert not missing


def test_installed_package_resolves_data(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import facebench.resources as r; print(r.datasets_dir()); print(r.pipelines_dir())")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    lines = out.stdout.split()
    assert lines == [str(site / "facebench" / "datasets"), str(site / "facebench" / "pipelines")]


def test_wheel_ships_template_correspondences(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [f"facebench/templates/correspondences/{p.name}"
               for p in (ROOT / "facebench" / "templates" / "correspondences").glob("*.npz")]
    assert len(shipped) == 2 and all(name in names for name in shipped)


def test_wheel_ships_server_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("facebench/server/migrations/env.py", "facebench/server/migrations/script.py.mako",
                 "facebench/server/migrations/versions/0001_initial.py"):
        assert name in names, name
