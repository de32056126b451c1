"""The durable job queue (the ``submissions`` table) and the worker that scores it.

A worker claims the oldest queued submission in one write transaction, setting a
*claim* id and a lease; while it scores it renews the lease.  The result is written
only if the claim is still its own, in the same transaction as the ``scored`` event,
so a submission is scored exactly once even if two workers ever raced.  A worker that
dies (SIGKILL, power cut, OOM) stops renewing; when the lease runs out another worker
takes the job again (event ``retry``), up to ``max_attempts`` claims, after which the
submission is marked failed with the reason.  Scoring is :func:`facebench.evaluate.evaluate`
itself, so a server record equals ``facebench evaluate``'s on the same files.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass

from facebench.errors import FacebenchError
from facebench.faults import crash_point, pause_point
from facebench.server import schema as s
from facebench.server.config import ServerConfig
from facebench.server.db import Database, DatabaseBusy, DiskFull, now


@dataclass(frozen=True)
class Job:
    id: str
    claim: str
    path: str
    gt_dir: str
    benchmark: str
    phase: str
    attempts: int


def claim(db: Database, config: ServerConfig, worker: str) -> Job | None:
    """Take the oldest queued submission (or one whose worker's lease ran out); None if none."""
    from sqlalchemy import insert, or_, select, update

    t = now()
    sub = s.submissions
    expired = (sub.c.state == "running") & (sub.c.lease_until < t)
    with db.read() as conn:    # cheap look first: an idle worker takes no write lock
        waiting = select(sub.c.id).where(or_(sub.c.state == "queued", expired)).limit(1)
        if conn.execute(waiting).first() is None:
            return None
    with db.write() as conn:
        given_up = conn.execute(select(sub.c.id, sub.c.attempts, sub.c.worker)
                                .where(expired, sub.c.attempts >= config.max_attempts)).all()
        for row in given_up:
            reason = (f"scoring was interrupted {row.attempts} times (the worker stopped renewing its "
                      "lease); a maintainer can look at the server log")
            still = (sub.c.id == row.id) & expired        # another worker may have been first
            if conn.execute(update(sub).where(still).values(state="failed", error=reason, finished_at=t,
                                                            lease_until=None)).rowcount == 1:
                conn.execute(insert(s.job_events).values(submission_id=row.id, at=t, kind="failed",
                                                         worker=row.worker, detail=reason))
        query = (select(sub.c.id, sub.c.state, sub.c.attempts, sub.c.worker, sub.c.path, s.tracks.c.gt_dir,
                        s.tracks.c.benchmark, s.tracks.c.phase)
                 .join(s.tracks, s.tracks.c.id == sub.c.track_id)
                 .where(or_(sub.c.state == "queued", expired & (sub.c.attempts < config.max_attempts)))
                 .order_by(sub.c.created_at, sub.c.id).limit(1))
        if db.kind == "postgresql":
            query = query.with_for_update(of=sub, skip_locked=True)
        row = conn.execute(query).first()
        if row is None:
            return None
        token = secrets.token_hex(8)
        claimable = (sub.c.id == row.id) & (sub.c.attempts == row.attempts)   # nobody claimed it since
        if conn.execute(update(sub).where(claimable).values(
                state="running", attempts=row.attempts + 1, claim=token, worker=worker, started_at=t,
                lease_until=t + config.lease_s)).rowcount != 1:
            return None
        if row.state == "running":
            conn.execute(insert(s.job_events).values(submission_id=row.id, at=t, kind="retry", worker=worker,
                                                     detail=f"lease of {row.worker} ran out"))
        conn.execute(insert(s.job_events).values(submission_id=row.id, at=t, kind="claimed", worker=worker,
                                                 detail=f"attempt {row.attempts + 1}"))
    return Job(row.id, token, row.path, row.gt_dir, row.benchmark, row.phase, row.attempts + 1)


def _mine(job: Job):
    sub = s.submissions
    return (sub.c.id == job.id) & (sub.c.claim == job.claim) & (sub.c.state == "running")


def renew(db: Database, config: ServerConfig, job: Job) -> bool:
    """Extend the lease; False when the job is no longer this worker's."""
    from sqlalchemy import update

    with db.write() as conn:
        return conn.execute(update(s.submissions).where(_mine(job))
                            .values(lease_until=now() + config.lease_s)).rowcount == 1


def finish(db: Database, job: Job, worker: str, record: dict | None, error: str | None = None,
           requeue: bool = False) -> bool:
    """Store the outcome if the claim is still this worker's: scored (``record``), failed
    (``error``) or back in the queue (``requeue``).  Returns whether it was stored."""
    from sqlalchemy import insert, update

    t = now()
    if requeue:
        values, kind = {"state": "queued", "claim": None, "lease_until": None}, "released"
    elif record is not None:
        values = {"state": "scored", "record": json.dumps(record, allow_nan=False), "finished_at": t,
                  "gt_manifest_sha256": record["gt_manifest_sha256"], "lease_until": None, "error": None}
        kind = "scored"
    else:
        values, kind = {"state": "failed", "error": error, "finished_at": t, "lease_until": None}, "failed"
    with db.write() as conn:
        if conn.execute(update(s.submissions).where(_mine(job)).values(**values)).rowcount != 1:
            return False
        conn.execute(insert(s.job_events).values(submission_id=job.id, at=t, kind=kind, worker=worker,
                                                 detail=error))
    return True


def score(job: Job) -> dict:
    """The results record of a job: ``facebench evaluate`` on the stored upload and the track's GT."""
    from facebench.evaluate import evaluate

    return evaluate(job.path, gt=job.gt_dir, benchmark=job.benchmark, progress=False)


class Worker:
    """One scoring process: ``Worker(db, config).run()`` until SIGTERM/SIGINT (or ``once``)."""

    def __init__(self, db: Database, config: ServerConfig, parent_pid: int | None = None, log=None):
        self.db, self.config, self.parent_pid = db, config, parent_pid
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.stopping = threading.Event()
        self._last_write, self._idle_since_write = 0.0, False
        self.log = log or (lambda text: print(f"facebench worker {self.id}: {text}", file=sys.stderr,
                                              flush=True))

    def run(self, once: bool = False) -> int:
        """Score jobs; returns how many were scored or failed.  ``once``: stop when the queue is empty."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        done = 0
        self._seen(None)
        self.log(f"started (database {self.db.description}, lease {self.config.lease_s:g} s)")
        while not self.stopping.is_set():
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                self.log("the server that started this worker is gone; stopping")
                break
            try:
                job = claim(self.db, self.config, self.id)
            except (DatabaseBusy, DiskFull) as exc:
                self.log(f"cannot claim a job: {exc}")
                self.stopping.wait(max(self.config.poll_s, 1.0))
                continue
            if job is None:
                if once and not self._pending():
                    break
                self._seen(None)
                self.stopping.wait(self.config.poll_s)
                continue
            done += self._work(job)
        self._seen(None, gone=True)
        self.log("stopped")
        return done

    def _work(self, job: Job) -> int:
        crash_point("server-job-claimed")
        self._seen(job.id)
        lost = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, lost), daemon=True)
        beat.start()
        t0 = time.perf_counter()
        record, error, requeue = None, None, False
        try:
            record = score(job)
        except FacebenchError as exc:          # a problem with this submission: final
            error = str(exc)
        except Exception:                      # a bug or a broken server: retry, then give up
            self.log(f"scoring {job.id} raised:\n{traceback.format_exc()}")
            requeue = job.attempts < self.config.max_attempts
            error = "internal error while scoring (the maintainers have the log)"
        crash_point("server-job-scored")
        pause_point("server-job-scored")
        lost.set()
        beat.join()
        stored = self._store(job, record, error, requeue)
        state = "requeued" if requeue else ("scored" if record is not None else f"failed: {error}")
        self.log(f"{job.id} ({job.benchmark}, {job.phase}) {state} in {time.perf_counter() - t0:.1f} s"
                 + ("" if stored else " -- not stored: the job was no longer this worker's"))
        self._seen(None)
        return int(stored)

    def _store(self, job, record, error, requeue) -> bool:
        """Store the outcome, retrying while the database is locked or the disk is full; if this
        worker is stopped meanwhile, the job's lease runs out and another worker redoes it."""
        pause = 0.5
        while True:
            try:
                return finish(self.db, job, self.id, record, error, requeue)
            except (DatabaseBusy, DiskFull) as exc:
                self.log(f"cannot store {job.id} yet ({exc}); retrying")
                if self.stopping.wait(pause):
                    return False
                pause = min(pause * 2, 30.0)

    def _pending(self) -> bool:
        """Whether a submission is still queued or running (``--once`` waits for running ones,
        whose worker may have died)."""
        from sqlalchemy import select

        busy = select(s.submissions.c.id).where(s.submissions.c.state.in_(("queued", "running"))).limit(1)
        with self.db.read() as conn:
            return conn.execute(busy).first() is not None

    def _heartbeat(self, job: Job, stop: threading.Event) -> None:
        while not stop.wait(self.config.lease_s / 3):
            try:
                if not renew(self.db, self.config, job):
                    self.log(f"lost the claim on {job.id}")
                    return
            except (DatabaseBusy, DiskFull) as exc:
                self.log(f"cannot renew the lease of {job.id}: {exc}")

    def _seen(self, submission_id, gone: bool = False) -> None:
        """Keep this worker's row in ``workers`` current (at most every 5 s while idle)."""
        from sqlalchemy import delete, insert, update

        t = now()
        if not gone and submission_id is None and self._idle_since_write and t - self._last_write < 5:
            return
        self._last_write, self._idle_since_write = t, submission_id is None
        try:
            with self.db.write() as conn:
                if gone:
                    conn.execute(delete(s.workers).where(s.workers.c.id == self.id))
                elif conn.execute(update(s.workers).where(s.workers.c.id == self.id)
                                  .values(last_seen=t, submission_id=submission_id)).rowcount == 0:
                    conn.execute(insert(s.workers).values(id=self.id, started_at=t, last_seen=t,
                                                          submission_id=submission_id))
        except (DatabaseBusy, DiskFull):
            pass
