"""Live leaderboards of a server, and exporting their records for the static leaderboard.

A leaderboard holds, per benchmark and phase, each user's newest scored submission of
each method, scored against the phase's current GT (its manifest sha256), ranked by
the benchmark's main metric in its direction like ``facebench leaderboard publish``
(missing values last, ties by method name).  Rows carry aggregate metrics and flagged
clip counts only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from facebench.server import schema as s
from facebench.server.db import Database
from facebench.server.submissions import NotFound, track_rows


def leaderboard(db: Database, benchmark: str, phase: str = "test") -> dict:
    """``{benchmark, phase, gt_manifest_sha256, main_metric, higher_is_better, columns, rows}``."""
    from facebench.leaderboard.benchmark_info import task_main_metrics
    from facebench.leaderboard.records import metric_sort_key, record_from_dict
    from facebench.leaderboard.table import main_metric

    track = track_rows(db).get((benchmark, phase))
    if track is None:
        raise NotFound(f"no leaderboard for {benchmark} ({phase}) on this server")
    latest = {}
    for row in _scored(db, track):
        latest[row.user_name, row.method] = row          # rows come oldest first: newest wins
    column, higher = main_metric(benchmark)
    rows = []
    for (user, method), row in latest.items():
        record = json.loads(row.record)
        rec = record_from_dict(record)
        rows.append({"method": method, "user": user, "submission": row.id, "metrics": rec.metrics,
                     "flagged_clips": rec.flagged_clips, "alignment": rec.alignment,
                     "coverage": record["counts"].get("coverage"), "facebench_version": rec.facebench_version,
                     "runtime_s_per_frame": rec.runtime_s_per_frame, "scored_at": row.finished_at})

    def key(r):
        value = r["metrics"].get(column, math.nan) if column else math.nan
        value = math.inf if value is None or math.isnan(value) else (-value if higher else value)
        return (value, r["method"], r["user"])

    rows.sort(key=key)
    for i, r in enumerate(rows):
        r["rank"] = i + 1
        r["metrics"] = {k: (None if v is None or math.isnan(v) else v) for k, v in r["metrics"].items()}
    present = {c for r in rows for c, v in r["metrics"].items() if v is not None}
    wanted = [c for c in [column, *task_main_metrics(benchmark)] if c]
    columns = list(dict.fromkeys(c for c in wanted if c in present))
    columns += sorted(present - set(columns), key=metric_sort_key)
    return {"benchmark": benchmark, "phase": phase, "gt_manifest_sha256": track.gt_manifest_sha256,
            "main_metric": column, "higher_is_better": higher, "headline_columns": list(dict.fromkeys(
                c for c in wanted if c in present)), "columns": columns, "rows": rows}


def _scored(db: Database, track):
    from sqlalchemy import select

    sub = s.submissions
    query = (select(sub.c.id, sub.c.method, sub.c.record, sub.c.finished_at,
                    s.users.c.name.label("user_name"))
             .join(s.users, s.users.c.id == sub.c.user_id)
             .where(sub.c.track_id == track.id, sub.c.state == "scored",
                    sub.c.gt_manifest_sha256 == track.gt_manifest_sha256)
             .order_by(sub.c.finished_at, sub.c.id))
    with db.read() as conn:
        return conn.execute(query).all()


def export_records(db: Database, benchmark: str, phase: str, out) -> list[Path]:
    """Write the full results record of every leaderboard row to ``out`` (one JSON each), ready for
    ``facebench leaderboard publish``.  Two users' methods of one name become ``METHOD (USER)``.

    The records of a test phase hold per-clip scores: keep them private; publish the tables
    (CSV, Markdown, PNG) and site pages built from them, which show aggregates only."""
    from sqlalchemy import select

    from facebench.leaderboard.webpage import slug

    board = leaderboard(db, benchmark, phase)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = [r["method"] for r in board["rows"]]
    written = []
    for r in board["rows"]:
        with db.read() as conn:
            text = conn.execute(select(s.submissions.c.record).where(s.submissions.c.id == r["submission"])
                                ).scalar_one()
        record = json.loads(text)
        if names.count(r["method"]) > 1:
            record["method"] = {**record["method"], "method": f"{r['method']} ({r['user']})"}
        path = out / f"{benchmark}-{phase}-{slug(record['method']['method'])}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=1, allow_nan=False))
        tmp.replace(path)
        written.append(path)
    return written
