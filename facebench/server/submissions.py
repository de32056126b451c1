"""Accepting a submission (validation, quota, queueing) and what its owner may see of it.

An upload is checked with :func:`facebench.evaluate.validate_predictions`, the code
behind ``facebench validate``, against the GT of the benchmark and phase it is for.
A refused upload is deleted and counts against nothing; an accepted one is moved to
``DATA/submissions/{id}.zip`` and queued in the same transaction that checks the
quota, so concurrent uploads cannot overrun it.

What a user sees depends on the phase: ``validation`` (public GT) returns the whole
results record; ``test`` (hidden GT) only aggregate metrics, protocol, counts and how
many clips were flagged per task and kind, so per-clip scores cannot probe the GT.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
from dataclasses import dataclass

from facebench.errors import FacebenchError
from facebench.server import schema as s
from facebench.server.accounts import User
from facebench.server.config import PHASES, ServerConfig, Track
from facebench.server.db import Database, DiskFull, now

DAY_S = 86400.0
MAX_PROBLEMS = 25


class Refused(FacebenchError):
    """A submission the server will not score: ``status`` (HTTP), ``problems`` (one line each)."""

    def __init__(self, message: str, status: int = 422, problems=None):
        self.status = status
        self.problems = list(problems or [message])
        super().__init__(message)


class NotFound(FacebenchError):
    """No such submission for this user: HTTP 404 (another user's submission looks the same)."""


@dataclass(frozen=True)
class TrackRow:
    id: int
    benchmark: str
    phase: str
    gt_dir: str
    gt_manifest_sha256: str
    per_day: int | None
    total: int | None


def register_tracks(db: Database, config: ServerConfig) -> dict[tuple[str, str], TrackRow]:
    """Record the configured benchmarks and phases (GT folder, manifest sha256, quotas) for the
    workers and pages; a track no longer configured keeps its row (old submissions point to it)."""
    from sqlalchemy import insert, select, update

    from facebench.io.shards import GTReader

    for track in config.tracks:
        with GTReader(track.gt_dir) as reader:
            sha = reader.manifest_sha256
        values = {"gt_dir": str(track.gt_dir), "gt_manifest_sha256": sha, "per_day": track.quota.per_day,
                  "total": track.quota.total, "updated_at": now()}
        with db.write() as conn:
            key = (s.tracks.c.benchmark == track.benchmark) & (s.tracks.c.phase == track.phase)
            if conn.execute(select(s.tracks.c.id).where(key)).first() is None:
                conn.execute(insert(s.tracks).values(benchmark=track.benchmark, phase=track.phase, **values))
            else:
                conn.execute(update(s.tracks).where(key).values(**values))
    return track_rows(db)


def track_rows(db: Database) -> dict[tuple[str, str], TrackRow]:
    from sqlalchemy import select

    with db.read() as conn:
        rows = conn.execute(select(s.tracks)).all()
    return {(r.benchmark, r.phase): TrackRow(r.id, r.benchmark, r.phase, r.gt_dir, r.gt_manifest_sha256,
                                             r.per_day, r.total) for r in rows}


def accept(db: Database, config: ServerConfig, user: User, upload, benchmark: str | None,
           phase: str | None) -> dict:
    """Validate ``upload`` (an :class:`~facebench.server.uploads.Upload`) and queue it.

    Returns the new submission's view; raises :class:`Refused` (the upload is deleted).
    """
    try:
        phase = phase or "test"
        if phase not in PHASES:
            raise Refused(f"unknown phase {phase!r} (phases: {', '.join(PHASES)})", 422)
        _check_entries(upload, max(_entry_limit(t) for t in config.tracks), "any benchmark here")
        benchmark = benchmark or _meta_benchmark(upload)
        track = config.track(benchmark, phase)
        rows = track_rows(db)
        if track is None or (benchmark, phase) not in rows:
            offered = ", ".join(f"{t.benchmark} ({t.phase})" for t in config.tracks) or "nothing"
            raise Refused(f"this server does not score {benchmark} ({phase}); it scores {offered}", 404)
        row = rows[benchmark, phase]
        with db.read() as conn:
            _check_quota(conn, user, row)          # early, before the cost of validating
        method = _validate(upload, track)
        return _queue(db, config, user, upload, row, method)
    except BaseException:
        upload.discard()
        raise


def _meta_benchmark(upload) -> str:
    from facebench.io.prediction_source import open_predictions

    try:
        with open_predictions(upload.path) as source:
            return source.meta()["benchmark"]
    except FacebenchError as exc:
        raise Refused(_public(str(exc), upload)) from None


def _validate(upload, track: Track) -> str:
    """The method name of a valid submission; Refused with ``facebench validate``'s reasons."""
    from facebench.evaluate.validate import validate_predictions
    from facebench.io.prediction_source import open_predictions

    _check_entries(upload, _entry_limit(track), track.benchmark)
    try:
        problems = validate_predictions(upload.path, gt=track.gt_dir, benchmark=track.benchmark)
        if not problems:
            with open_predictions(upload.path) as source:
                return source.meta()["method"]
    except FacebenchError as exc:
        problems = [str(exc)]
    lines = [_public(p, upload) for p in problems]
    if len(lines) > MAX_PROBLEMS:
        lines = lines[:MAX_PROBLEMS] + [f"... and {len(lines) - MAX_PROBLEMS} more"]
    raise Refused(_one_line(lines[:3]) + (" ..." if len(lines) > 3 else ""), 422, lines)


def _one_line(lines: list[str]) -> str:
    """Validator lines as one: "N of M clip files have errors:" runs into the errors it announces."""
    text = ""
    for line in (line.strip() for line in lines):
        text += line if not text else (" " if text.endswith(":") else "; ") + line
    return text


def _entry_limit(track: Track) -> int:
    """Most entries a submission's zip may declare: clip files, their folders, meta.json."""
    from facebench.io.shards import GTReader

    with GTReader(track.gt_dir) as reader:
        return 4 * len(reader.clip_ids) + 64


def _check_entries(upload, most: int, what: str) -> None:
    """Refuse a non-zip, or a zip of too many entries, before anything parses its directory."""
    from facebench.server.uploads import zip_entry_count

    entries = zip_entry_count(upload.path)
    if entries < 0:
        raise Refused(f"{upload.filename or 'the upload'} is not a .zip file (zip the predictions folder; "
                      "`facebench submit` does)")
    if entries > most:
        raise Refused(f"the zip declares {entries} entries; a submission to {what} has at most {most}")


def _public(message: str, upload) -> str:
    """A validator message with the server's temporary path replaced by the uploaded file's name."""
    return message.replace(str(upload.path), upload.filename or "upload.zip")


def _check_quota(conn, user: User, track: TrackRow) -> dict:
    from sqlalchemy import func, select

    t = now()
    where = (s.submissions.c.user_id == user.id) & (s.submissions.c.track_id == track.id)
    total = conn.execute(select(func.count()).where(where)).scalar_one()
    day = conn.execute(select(func.count(), func.min(s.submissions.c.created_at))
                       .where(where & (s.submissions.c.created_at > t - DAY_S))).one()
    used = {"used_today": day[0], "per_day": track.per_day, "used_total": total, "total": track.total}
    name = f"{track.benchmark} ({track.phase})"
    if track.total is not None and total >= track.total:
        raise Refused(f"quota reached: {total} of {track.total} submissions to {name} in total", 429)
    if track.per_day is not None and day[0] >= track.per_day:
        wait = max(0.0, day[1] + DAY_S - t) if day[1] is not None else 0.0
        raise Refused(f"quota reached: {day[0]} of {track.per_day} submissions to {name} in the last "
                      f"24 hours; the next one is possible in {wait / 3600:.1f} h", 429)
    return used


def _queue(db: Database, config: ServerConfig, user: User, upload, track: TrackRow, method: str) -> dict:
    from sqlalchemy import insert, select

    sub_id = "s" + secrets.token_hex(8)
    final = config.submissions_dir / f"{sub_id}.zip"
    config.submissions_dir.mkdir(parents=True, exist_ok=True)
    t = now()
    try:
        with db.write() as conn:
            if db.kind == "postgresql":   # one upload of this user at a time past this point
                conn.execute(select(s.users.c.id).where(s.users.c.id == user.id).with_for_update())
            quota = _check_quota(conn, user, track)
            os.replace(upload.path, final)
            conn.execute(insert(s.submissions).values(
                id=sub_id, user_id=user.id, track_id=track.id, method=method[:200],
                filename=upload.filename or "upload.zip", size=upload.size, sha256=upload.sha256,
                path=str(final), state="queued", created_at=t, attempts=0))
            conn.execute(insert(s.job_events).values(submission_id=sub_id, at=t, kind="queued"))
    except BaseException as exc:
        final.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise DiskFull("the server's disk is full; the submission was not recorded") from None
        raise
    quota["used_today"] += 1
    quota["used_total"] += 1
    return {"id": sub_id, "state": "queued", "benchmark": track.benchmark, "phase": track.phase,
            "method": method, "user": user.name, "quota": quota}


def _query():
    from sqlalchemy import select

    return (select(s.submissions, s.users.c.name.label("user_name"), s.tracks.c.benchmark, s.tracks.c.phase)
            .join(s.users, s.users.c.id == s.submissions.c.user_id)
            .join(s.tracks, s.tracks.c.id == s.submissions.c.track_id))


def get_submission(db: Database, user: User, sub_id: str, full: bool = False) -> dict:
    """The view of one submission its owner (or an admin) may see; NotFound otherwise."""
    with db.read() as conn:
        row = conn.execute(_query().where(s.submissions.c.id == sub_id)).first()
    if row is None or (row.user_id != user.id and not user.is_admin):
        raise NotFound(f"no submission {sub_id!r} for user {user.name}")
    return view(row, results=True, full=full and user.is_admin)


def list_submissions(db: Database, user: User, benchmark=None, phase=None, limit: int = 200) -> list[dict]:
    query = _query().order_by(s.submissions.c.created_at.desc()).limit(limit)
    if not user.is_admin:
        query = query.where(s.submissions.c.user_id == user.id)
    if benchmark:
        query = query.where(s.tracks.c.benchmark == benchmark)
    if phase:
        query = query.where(s.tracks.c.phase == phase)
    with db.read() as conn:
        return [view(r, results=False) for r in conn.execute(query)]


def view(row, results: bool, full: bool = False) -> dict:
    """A submission as the API returns it (see the module doc for what each phase shows)."""
    out = {k: getattr(row, k) for k in ("id", "state", "method", "filename", "size", "sha256", "created_at",
                                        "started_at", "finished_at", "attempts", "error",
                                        "gt_manifest_sha256", "benchmark", "phase")}
    out["user"] = row.user_name
    record = json.loads(row.record) if row.record else None
    if record is not None:
        out["metrics"] = record["metrics"]
        if results:
            out["results"] = record if full else public_results(record, row.phase)
    return out


def public_results(record: dict, phase: str) -> dict:
    """What a participant sees of a results record: all of it in validation, aggregates in test."""
    if phase == "validation":
        return {k: v for k, v in record.items() if k != "predictions"}
    counts = {k: v for k, v in record["counts"].items() if k != "missing_clips"}
    return {"schema_version": record["schema_version"], "facebench_version": record["facebench_version"],
            "benchmark": record["benchmark"], "gt_manifest_sha256": record["gt_manifest_sha256"],
            "method": record["method"], "metrics": record["metrics"], "counts": counts,
            "protocol": record["protocol"], "flag_counts": flag_counts(record.get("flags", []))}


def flag_counts(flags: list) -> dict:
    """``{task: {kind: clips flagged}}``: how many, never which."""
    out: dict = {}
    for f in flags:
        out.setdefault(f["task"], {}).setdefault(f["kind"], 0)
        out[f["task"]][f["kind"]] += 1
    return out
