"""The server's tables (SQLAlchemy Core).  Migrations in ``migrations/versions`` create them.

Times are Unix seconds (float, UTC): the same in SQLite and PostgreSQL, and easy to
compare.  The job queue is the ``submissions`` table itself (``state``, ``lease_until``,
``claim``) plus an append-only ``job_events`` log, so "scored exactly once" can be
checked from the database.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# queued -> running -> scored | failed; a running job whose lease ran out is queued again.
STATES = ("queued", "running", "scored", "failed")

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

tokens = Table(
    "tokens", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("sha256", String(64), nullable=False, unique=True),   # of the token; the token is never stored
    Column("prefix", String(16), nullable=False),                 # first characters, to tell tokens apart
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
)

sessions = Table(
    "sessions", metadata,
    Column("sha256", String(64), primary_key=True),               # of the browser cookie
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

tracks = Table(
    "tracks", metadata,
    Column("id", Integer, primary_key=True),
    Column("benchmark", String(64), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("gt_dir", Text, nullable=False),
    Column("gt_manifest_sha256", String(64), nullable=False),
    Column("per_day", Integer),
    Column("total", Integer),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("benchmark", "phase", name="uq_tracks_benchmark_phase"),
)

submissions = Table(
    "submissions", metadata,
    Column("id", String(24), primary_key=True),                   # public, random
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("track_id", Integer, ForeignKey("tracks.id"), nullable=False),
    Column("method", String(200), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claim", String(32)),                                  # the current attempt's id
    Column("worker", String(120)),
    Column("lease_until", Float),
    Column("error", Text),
    Column("record", Text),                                       # the full results record (JSON)
    Column("gt_manifest_sha256", String(64)),
    Index("ix_submissions_queue", "state", "created_at"),
    Index("ix_submissions_user_track", "user_id", "track_id", "created_at"),
)

job_events = Table(
    "job_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", String(24), ForeignKey("submissions.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("kind", String(16), nullable=False),   # queued, claimed, scored, failed, retry, released
    Column("worker", String(120)),
    Column("detail", Text),
)

workers = Table(
    "workers", metadata,
    Column("id", String(120), primary_key=True),  # host:pid:random
    Column("started_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("submission_id", String(24)),
)
