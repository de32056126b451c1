"""Named crash points for testing what survives a killed process.

Code that writes durable state calls :func:`crash_point` at the moments where a
crash would hurt most (a shard written but not yet renamed, renamed but not yet
in the manifest, ...).  Normally this is one dictionary lookup.  With the
environment variable ``FACEBENCH_CRASH_AT=NAME`` (or ``NAME:N``) the process
sends itself SIGKILL the N-th time (default: first) it reaches ``NAME``: no
``finally`` block, ``atexit`` hook or buffered write runs, exactly as when a
cluster scheduler kills a job.  ``tests/test_reliability_prepare.py`` and
``benchmarks/reliability_report.py`` use it.
"""

from __future__ import annotations

import os
import signal

ENV = "FACEBENCH_CRASH_AT"

# Every crash point in the code, in the order a prepare run reaches them.
CRASH_POINTS = {
    "shard-temp-written": "a shard is complete under its temporary name, not yet renamed",
    "shard-renamed": "a shard is under its final name but not yet in manifest.json",
    "manifest-temp-written": "the new manifest is written to its temporary name, not yet renamed",
    "sequence-committed": "a sequence is in manifest.json; later sequences are not started",
    "server-job-claimed": "a server worker has claimed a submission, not yet scored it",
    "server-job-scored": "a server worker has scored a submission, not yet stored the result",
}

PAUSE_ENV = "FACEBENCH_PAUSE_AT"

_seen: dict[str, int] = {}


def crash_point(name: str) -> None:
    """SIGKILL this process here if ``FACEBENCH_CRASH_AT`` asks for ``name`` (see module doc)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, nth = wanted.partition(":")
    if target != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] == (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGKILL)


def pause_point(name: str, timeout: float = 300.0) -> None:
    """Wait here if ``FACEBENCH_PAUSE_AT=NAME=PATH`` asks for ``name``: create ``PATH.reached``, then
    wait until ``PATH`` exists (a test does something to the world meanwhile, e.g. fills the disk)."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted:
        return
    target, _, path = wanted.partition("=")
    if target != name or not path:
        return
    import time
    from pathlib import Path

    Path(path + ".reached").touch()
    deadline = time.monotonic() + timeout
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
