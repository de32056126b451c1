"""Running a real facebench server for tests: processes, databases, GT, uploads (no mocks).

PostgreSQL tests need ``FACEBENCH_TEST_POSTGRES_URL`` (a superuser URL of a throwaway
cluster; ``.ci/postgres.sh`` starts one): each server gets a fresh database on it.
Without it they are skipped -- except in CI (``CI=true``), where a missing service is a
failure, not a skip.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_ENV = "FACEBENCH_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(what: str, available: bool, hint: str) -> None:
    """Skip without ``what`` locally; fail in CI, where ``.ci/run`` must have provided it."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing in CI ({hint}); .ci/run should have provided it")
    pytest.skip(f"{what} is not available ({hint})")


def postgres_admin_url() -> str:
    url = os.environ.get(PG_ENV)
    need("PostgreSQL", bool(url), f"set {PG_ENV}=postgresql://postgres@127.0.0.1:54329/postgres, e.g. from "
                                  "`bash .ci/postgres.sh`")
    return url


class PostgresDatabase:
    """A fresh database on the test cluster, dropped by :meth:`drop`."""

    def __init__(self, admin_url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.name = "fbtest_" + secrets.token_hex(4)
        admin = make_url(admin_url).set(drivername="postgresql+psycopg")
        self.admin = create_engine(admin, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {self.name}")
        self.url = admin.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        self.admin.dispose()


def database_url(backend: str, data: Path, cleanup: list) -> str:
    """A database URL for ``backend`` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        return f"sqlite:///{data / 'facebench-server.sqlite3'}"
    pg = PostgresDatabase(postgres_admin_url())
    cleanup.append(pg.drop)
    return pg.url


def write_config(data: Path, tracks: dict, **settings) -> Path:
    """``DATA/server.yaml``: ``tracks`` is {(benchmark, phase): (gt_dir, per_day, total)}."""
    import yaml

    benchmarks: dict = {}
    for (bench, phase), (gt, per_day, total) in tracks.items():
        benchmarks.setdefault(bench, {})[phase] = {"gt": str(gt), "per_day": per_day, "total": total}
    data.mkdir(parents=True, exist_ok=True)
    path = data / "server.yaml"
    path.write_text(yaml.safe_dump({"benchmarks": benchmarks, **settings}))
    return path


def python_env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Server:
    """``python -m facebench serve`` on a free loopback port; its own process group."""

    def __init__(self, data: Path, db_url: str, workers: int = 1, env: dict | None = None, args=()):
        self.data, self.db_url = data, db_url
        cmd = [sys.executable, "-m", "facebench", "serve", "--data", str(data), "--db", db_url, "--port", "0",
               "--workers", str(workers), "--log-level", "warning", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=python_env(**(env or {})), start_new_session=True)
        self.lines: list[str] = []
        self.url = None
        ready = threading.Event()
        threading.Thread(target=self._read, args=(ready,), daemon=True).start()
        if not ready.wait(60) or self.url is None:
            self.kill()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.lines[-30:]))

    def _read(self, ready: threading.Event) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if self.url is None and "listening on " in line:
                self.url = line.split("listening on ")[1].split()[0].rstrip("/")
                ready.set()
        ready.set()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> int:
        """SIGTERM, as systemd would; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the server and every process it started (a machine crash, as far as they can tell)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(30)

    def _reap_group(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_worker(data: Path, db_url: str, *args, env=None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "facebench", "serve", "worker", "--data", str(data), "--db", db_url, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=python_env(**(env or {})), start_new_session=True)


def add_user(db_url: str, name: str, admin: bool = False) -> str:
    from facebench.server.accounts import add_user as add
    from facebench.server.db import Database, migrate

    db = Database(db_url)
    try:
        migrate(db)
        return add(db, name, admin=admin)
    finally:
        db.dispose()


def client(server: Server, token: str | None):
    from facebench.server.client import Client

    return Client(server.url, token, timeout=120)


def wait_until(predicate, timeout: float = 60.0, what: str = "condition", pause: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(pause)


def wait_scored(c, ids, timeout: float = 90.0) -> dict:
    """Every submission in ``ids`` final (scored or failed); their views by id."""
    out = {}
    for sub_id in ids:
        out[sub_id] = c.wait(sub_id, timeout=timeout)
    return out


def db_rows(db_url: str, sql: str) -> list:
    from facebench.server.db import Database

    db = Database(db_url)
    try:
        with db.read() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql).all()]
    finally:
        db.dispose()


def make_gts(root: Path) -> tuple[Path, Path]:
    """(test GT, validation GT) of benchmark synth-v1: 4 and 2 tiny clips (tests/gt_fixtures.py)."""
    from tests.gt_fixtures import make_gt

    test = make_gt(root / "gt-test", T=3, H=8, W=6, N=5, seed=0)
    validation = make_gt(root / "gt-val", T=3, H=8, W=6, N=5, seed=1, participants=("801",))
    return test, validation


def noisy(level: float):
    """A predictions transform: GT plus a deterministic error of size ``level``."""
    def transform(cid, arrays):
        out = dict(arrays)
        out["depth"] = arrays["depth"] * np.float32(1 + level)
        out["canonical"] = arrays["canonical"] + np.float32(level)
        return out
    return transform


def make_preds(gt: Path, out: Path, method: str, level: float = 0.01, **kwargs) -> Path:
    from tests.gt_fixtures import write_preds

    return write_preds(gt, out, meta={"method": method, "benchmark": "synth-v1"}, transform=noisy(level),
                       **kwargs)


def zip_folder(folder: Path, out: Path, extra=()) -> Path:
    """A zip of a predictions folder, plus ``extra`` (name, bytes) entries."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
        for name, data in extra:
            zf.writestr(name, data)
    return out


def comparable(record: dict) -> str:
    """A results record without what differs between two runs of the same scoring (time, path)."""
    return json.dumps({k: v for k, v in record.items() if k not in ("elapsed_s", "predictions")},
                      sort_keys=True)


def leftover_uploads(data: Path) -> list[str]:
    return sorted(p.name for p in (data / "uploads").glob(".part-*")) if (data / "uploads").is_dir() else []


def fault_inputs(root: Path):
    """Test and validation GT and a valid .zip for each (tests of faults)."""
    from types import SimpleNamespace

    gt, gtv = make_gts(root)
    archive = zip_folder(make_preds(gt, root / "p", "m", level=0.01), root / "p.zip")
    val = zip_folder(make_preds(gtv, root / "v", "m", level=0.01), root / "v.zip")
    return SimpleNamespace(root=root, gt=gt, gtv=gtv, archive=archive, val=val)


def check_exactly_once(url: str, accepted: list[str], data: Path) -> None:
    """Every accepted upload is stored, kept on disk and scored exactly once; nothing else is."""
    rows = dict(db_rows(url, "SELECT id, state FROM submissions"))
    assert sorted(rows) == sorted(accepted), "accepted uploads and stored submissions differ"
    assert all(state == "scored" for state in rows.values()), rows
    scored = dict(db_rows(url, "SELECT submission_id, count(*) FROM job_events WHERE kind = 'scored' "
                               "GROUP BY submission_id"))
    assert scored == {sub_id: 1 for sub_id in accepted}
    assert sorted(p.stem for p in (data / "submissions").glob("*.zip")) == sorted(accepted)
    assert leftover_uploads(data) == []
