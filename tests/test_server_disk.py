"""A full disk under a real server: an upload gets 507 and leaves nothing; a worker waits to store.

The data folder lives on a 4 MiB tmpfs that the test mounts (root only; skipped where
mounting is not allowed) and fills.
"""

import os
import shutil
import subprocess
import threading

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install 'facebench[server]')")

from facebench.server.client import ServerError
from tests.server_harness import (
    IN_CI,
    Server,
    add_user,
    check_exactly_once,
    client,
    database_url,
    db_rows,
    fault_inputs,
    leftover_uploads,
    start_worker,
    wait_scored,
    wait_until,
    write_config,
)


@pytest.fixture(scope="module")
def gts(tmp_path_factory):
    return fault_inputs(tmp_path_factory.mktemp("server-disk-gt"))


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (root only); skipped where mounting is not allowed."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a small tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})" + (" [CI]" if IN_CI else ""))
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder, leave: int) -> None:
    """Fill the file system of ``folder`` until ``leave`` bytes are free."""
    free = shutil.disk_usage(folder).free
    with open(folder / "filler", "wb") as fh:
        try:
            fh.write(b"\0" * max(0, free - leave))
        except OSError:
            pass


def test_full_disk_gives_507_then_recovers(small_disk, gts, record_property):
    data = small_disk / "data"
    url = database_url("sqlite", data, [])
    write_config(data, {("synth-v1", "validation"): (gts.gtv, None, None)}, poll_s=0.1)
    token = add_user(url, "hoarder")
    server = Server(data, url, workers=1)
    try:
        c = client(server, token)
        first = c.submit(gts.val, phase="validation")["id"]
        c.wait(first, timeout=60)
        _fill(small_disk, leave=2048)
        with pytest.raises(ServerError) as err:
            c.submit(gts.val, phase="validation")
        assert err.value.status == 507 and "disk is full" in str(err.value) and "\n" not in str(err.value)
        record_property("outcome", f"{err.value.status}: {err.value}; after freeing space: scored, "
                                   "integrity_check ok")
        assert leftover_uploads(data) == []
        (small_disk / "filler").unlink()
        second = c.submit(gts.val, phase="validation")["id"]
        wait_scored(c, [first, second])
        check_exactly_once(url, [first, second], data)
        assert db_rows(url, "PRAGMA integrity_check") == [("ok",)]
    finally:
        server.stop()


def test_worker_waits_out_a_full_disk(small_disk, gts, tmp_path, record_property):
    data = small_disk / "data"
    url = database_url("sqlite", data, [])
    write_config(data, {("synth-v1", "validation"): (gts.gtv, None, None)}, poll_s=0.1, lease_s=30)
    token = add_user(url, "patient")
    server = Server(data, url, workers=0)
    try:
        c = client(server, token)
        sub_id = c.submit(gts.val, phase="validation")["id"]
        go = tmp_path / "go"                     # the worker waits after scoring until this file exists
        worker = start_worker(data, url, "--once", env={"FACEBENCH_PAUSE_AT": f"server-job-scored={go}"})
        lines = []
        threading.Thread(target=lambda: lines.extend(worker.stdout), daemon=True).start()
        wait_until(lambda: (tmp_path / "go.reached").exists(), timeout=60, what="the worker to score")
        _fill(small_disk, leave=0)               # the disk fills up before the result is stored
        go.touch()
        wait_until(lambda: any("disk is full" in line for line in lines), timeout=60,
                   what="the worker to meet the full disk")
        assert c.status(sub_id)["state"] == "running"
        (small_disk / "filler").unlink()
        assert worker.wait(90) == 0, "".join(lines)
        check_exactly_once(url, [sub_id], data)
        assert db_rows(url, "PRAGMA integrity_check") == [("ok",)]
        full = next(line for line in lines if "disk is full" in line).split(": ", 1)[1].strip()
        record_property("outcome", f"worker logged '{full}', retried, stored the result once; "
                                   "integrity_check ok")
    finally:
        server.stop()
