"""Faults on a real server: concurrent uploads, killed workers and server, a locked database, a full disk.

The invariant every test checks: each accepted upload (HTTP 201) ends scored exactly
once (one ``scored`` event in ``job_events``), its file is kept, nothing refused is
stored, and no half-written upload is left behind.
"""

import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install 'facebench[server]')")

from facebench.evaluate import evaluate
from facebench.server.client import ServerError
from tests.server_harness import (
    Server,
    add_user,
    check_exactly_once,
    client,
    comparable,
    database_url,
    db_rows,
    fault_inputs,
    python_env,
    start_worker,
    wait_scored,
    wait_until,
    write_config,
)


@pytest.fixture(scope="module")
def gts(tmp_path_factory):
    return fault_inputs(tmp_path_factory.mktemp("server-faults-gt"))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


def setup_site(tmp_path, gts, backend, quota=(None, None), **settings):
    cleanup = []
    data = tmp_path / "data"
    url = database_url(backend, data, cleanup)
    tracks = {("synth-v1", "test"): (gts.gt, *quota), ("synth-v1", "validation"): (gts.gtv, None, None)}
    write_config(data, tracks, poll_s=0.1, **settings)
    return data, url, cleanup


def test_quota_holds_under_concurrent_uploads(tmp_path, gts, backend, record_property):
    data, url, cleanup = setup_site(tmp_path, gts, backend, quota=(3, 10))
    token = add_user(url, "racer")
    server = Server(data, url, workers=1)
    try:
        def upload(_):
            try:
                return client(server, token).submit(gts.archive)["id"]
            except ServerError as exc:
                return exc.status, str(exc)

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(upload, range(8)))
        accepted = [o for o in outcomes if isinstance(o, str)]
        refused = [o for o in outcomes if not isinstance(o, str)]
        assert len(accepted) == 3, outcomes
        assert all(status == 429 and "3 of 3 submissions" in text for status, text in refused)
        wait_scored(client(server, token), accepted)
        check_exactly_once(url, accepted, data)
        record_property("outcome", f"{len(accepted)} accepted and scored once, {len(refused)} refused 429")
    finally:
        server.stop()
        for fn in cleanup:
            fn()


def test_fifty_concurrent_uploads_are_all_accepted_or_cleanly_refused(tmp_path, gts, backend,
                                                                      record_property):
    data, url, cleanup = setup_site(tmp_path, gts, backend)
    tokens = [add_user(url, f"user{i}") for i in range(5)]
    server = Server(data, url, workers=2)
    try:
        def upload(i):
            try:
                return client(server, tokens[i % 5]).submit(gts.val, phase="validation")["id"]
            except ServerError as exc:
                return exc.status, str(exc)

        with ThreadPoolExecutor(50) as pool:
            outcomes = list(pool.map(upload, range(50)))
        accepted = [o for o in outcomes if isinstance(o, str)]
        refused = [o for o in outcomes if not isinstance(o, str)]
        assert all(status == 503 and "\n" not in text for status, text in refused), refused
        assert len(accepted) >= 45, f"only {len(accepted)} of 50 accepted: {refused[:3]}"
        admin = client(server, add_user(url, "root", admin=True))
        wait_scored(admin, accepted, timeout=180)
        check_exactly_once(url, accepted, data)
        record_property("outcome", f"{len(accepted)} accepted, each scored once; {len(refused)} refused "
                                   "(503, one line); no upload left half-written")
    finally:
        server.stop()
        for fn in cleanup:
            fn()


def test_killed_workers_jobs_are_retried_and_scored_once(tmp_path, gts, backend, record_property):
    data, url, cleanup = setup_site(tmp_path, gts, backend, lease_s=1.5)
    token = add_user(url, "victim")
    server = Server(data, url, workers=0)
    try:
        c = client(server, token)
        ids = [c.submit(gts.val, phase="validation")["id"] for _ in range(3)]
        # SIGKILL after scoring, before storing (the worst moment), then right after claiming
        for point in ("server-job-scored", "server-job-claimed"):
            dying = start_worker(data, url, env={"FACEBENCH_CRASH_AT": point})
            assert dying.wait(60) == -9, dying.stdout.read()
        states = dict(db_rows(url, "SELECT id, state FROM submissions"))
        assert "running" in states.values() and set(states.values()) <= {"queued", "running"}
        survivor = start_worker(data, url, "--once")
        out, _ = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, out
        check_exactly_once(url, ids, data)
        # two claims died with their worker; each was taken again when its lease ran out
        assert db_rows(url, "SELECT count(*) FROM job_events WHERE kind = 'retry'") == [(2,)]
        assert db_rows(url, "SELECT sum(attempts) FROM submissions") == [(5,)]
        local = evaluate(gts.val, gt=gts.gtv, progress=False)
        admin = client(server, add_user(url, "root", admin=True))
        for sub_id in ids:
            full = admin.get(f"/api/v1/submissions/{sub_id}?full=true")["results"]
            assert comparable(full) == comparable(local)
        record_property("outcome", "3 of 3 scored once (2 retried after their lease ran out); records equal "
                                   "facebench evaluate's")
    finally:
        server.stop()
        for fn in cleanup:
            fn()


def test_server_killed_mid_queue_loses_nothing(tmp_path, gts, backend, record_property):
    data, url, cleanup = setup_site(tmp_path, gts, backend, lease_s=1.5)
    token = add_user(url, "patient")
    server = Server(data, url, workers=1)
    try:
        c = client(server, token)
        with ThreadPoolExecutor(6) as pool:
            ids = list(pool.map(lambda _: c.submit(gts.val, phase="validation")["id"], range(6)))
        busy = "SELECT count(*) FROM submissions WHERE state IN ('running', 'scored')"
        wait_until(lambda: db_rows(url, busy)[0][0] > 0, what="the worker to start", pause=0.05)
        server.kill()                       # the server, its workers, everything: SIGKILL
        at_kill = sorted(state for (state,) in db_rows(url, "SELECT state FROM submissions"))
        assert at_kill.count("scored") < len(ids), "everything was scored before the kill: not mid-queue"
        server = Server(data, url, workers=1)
        wait_scored(client(server, token), ids)
        check_exactly_once(url, ids, data)
        seen = ", ".join(f"{at_kill.count(s)} {s}" for s in ("queued", "running", "scored") if s in at_kill)
        record_property("outcome", f"killed with {seen}; after the restart {len(ids)} of {len(ids)} "
                                   "scored once")
    finally:
        server.stop()
        for fn in cleanup:
            fn()


def test_sigterm_stops_the_server_and_its_workers(tmp_path, gts, record_property):
    data, url, _ = setup_site(tmp_path, gts, "sqlite")
    server = Server(data, url, workers=2)
    wait_until(lambda: len(client(server, None).get("/api/v1/health")["workers"]) == 2, what="2 workers")
    assert server.proc.poll() is None
    server.proc.terminate()
    assert server.proc.wait(30) == 0
    out = subprocess.run(["pgrep", "-g", str(server.proc.pid)], capture_output=True, text=True)
    assert out.stdout.strip() == "", "workers outlived the server"
    assert "stopped" in server.log
    record_property("outcome", "exit 0; no process of its group left; workers logged 'stopped'")


def test_a_second_server_on_the_same_data_folder_is_refused(tmp_path, gts, record_property):
    data, url, _ = setup_site(tmp_path, gts, "sqlite")
    server = Server(data, url, workers=0)
    try:
        with pytest.raises(RuntimeError, match="another facebench serve") as err:
            Server(data, url, workers=0)
        record_property("outcome", str(err.value).splitlines()[-1].replace(str(data), "DATA"))
    finally:
        server.stop()


def test_locked_database_gives_503_and_nothing_half_done(tmp_path, gts, backend, record_property):
    data, url, cleanup = setup_site(tmp_path, gts, backend, busy_timeout_s=1)
    token = add_user(url, "blocked")
    server = Server(data, url, workers=1)
    try:
        c = client(server, token)
        first = c.submit(gts.val, phase="validation")["id"]
        with _held_lock(url, backend):
            with pytest.raises(ServerError) as err:
                c.submit(gts.val, phase="validation")
            assert err.value.status == 503 and "lock" in str(err.value) and "\n" not in str(err.value)
            record_property("outcome", f"{err.value.status}: {err.value}; afterwards both uploads scored "
                                       "once")
            assert client(server, None).get("/api/v1/health")["status"] == "ok"    # reads still work
        second = c.submit(gts.val, phase="validation")["id"]
        wait_scored(c, [first, second])
        check_exactly_once(url, [first, second], data)
        if backend == "sqlite":
            assert db_rows(url, "PRAGMA integrity_check") == [("ok",)]
    finally:
        server.stop()
        for fn in cleanup:
            fn()


class _held_lock:
    """Another process's write lock on the database, reads still allowed (SQLite: BEGIN EXCLUSIVE in WAL
    mode; PostgreSQL: LOCK TABLE ... IN EXCLUSIVE MODE)."""

    def __init__(self, url, backend):
        self.url, self.backend = url, backend

    def __enter__(self):
        if self.backend == "sqlite":
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("BEGIN EXCLUSIVE")
        else:
            import psycopg

            self.conn = psycopg.connect(self.url.replace("postgresql+psycopg:", "postgresql:"))
            self.conn.execute("LOCK TABLE submissions IN EXCLUSIVE MODE")
        return self

    def __exit__(self, *exc):
        self.conn.rollback() if self.backend != "sqlite" else self.conn.execute("ROLLBACK")
        self.conn.close()


def test_a_job_that_keeps_killing_its_worker_fails_with_the_reason(tmp_path, gts, record_property):
    data, url, _ = setup_site(tmp_path, gts, "sqlite", lease_s=1, max_attempts=1)
    token = add_user(url, "unlucky")
    server = Server(data, url, workers=0)
    try:
        sub_id = client(server, token).submit(gts.val, phase="validation")["id"]
        dying = start_worker(data, url, env={"FACEBENCH_CRASH_AT": "server-job-claimed"})
        assert dying.wait(60) == -9
        survivor = start_worker(data, url, "--once")
        assert survivor.wait(60) == 0
        out = subprocess.run([sys.executable, "-m", "facebench", "submit", "status", sub_id, "--wait",
                              "--server", server.url, "--token", token], capture_output=True, text=True,
                             env=python_env(), timeout=60)
        assert out.returncode == 2 and out.stdout == ""
        assert f"submission {sub_id} failed: scoring was interrupted 1 times" in out.stderr.splitlines()[-1]
        events = db_rows(url, "SELECT kind FROM job_events ORDER BY id")
        assert events == [("queued",), ("claimed",), ("failed",)]
        record_property("outcome", out.stderr.splitlines()[-1])
    finally:
        server.stop()
