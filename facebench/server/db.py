"""The server database: engines, migrations, transactions, and database errors as one line.

SQLite (the default, one file in the data folder) runs in WAL mode, so readers never
wait for the writer, with ``synchronous=FULL`` (an accepted submission survives a power
cut) and a busy timeout.  Every write transaction starts with ``BEGIN IMMEDIATE``: it
takes the write lock first, so a read-check-write step (a quota check, claiming a job)
cannot interleave with another process's.  On PostgreSQL the same steps lock rows
(``SELECT ... FOR UPDATE [SKIP LOCKED]``).

    db = Database(config.db_url)
    migrate(db)                       # idempotent; one process at a time
    with db.write() as conn: ...      # a transaction, committed on exit
    with db.read() as conn: ...
"""

from __future__ import annotations

import errno
import os
import time
from contextlib import contextmanager
from pathlib import Path

from facebench.errors import FacebenchError


class DatabaseBusy(FacebenchError):
    """The database is locked by another process or unreachable; the request can be retried."""


class DiskFull(FacebenchError):
    """No space left for the database or an upload; nothing was recorded."""


class Database:
    def __init__(self, url: str, busy_timeout_s: float = 10.0):
        from sqlalchemy import create_engine, event
        from sqlalchemy.engine import make_url

        self.url = url
        parsed = make_url(url)
        self.kind = parsed.get_backend_name()
        if self.kind not in ("sqlite", "postgresql"):
            raise FacebenchError(f"unsupported database {self.kind!r}: use sqlite:///FILE or postgresql://...")
        if self.kind == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if self.kind == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                raise FacebenchError("the server needs an SQLite file, not an in-memory database")
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            args = {"connect_args": {"timeout": busy_timeout_s}, "pool_size": 20, "max_overflow": 40,
                    "pool_timeout": busy_timeout_s * 3}
            self.engine = create_engine(parsed, **args)
            self.writer = create_engine(parsed, **args)
            for engine, begin in ((self.engine, "BEGIN"), (self.writer, "BEGIN IMMEDIATE")):
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", lambda conn, sql=begin: conn.exec_driver_sql(sql))
        else:
            # lock_timeout: a statement waiting this long for a lock fails (503) instead of hanging
            options = f"-c lock_timeout={int(busy_timeout_s * 1000)}"
            self.engine = create_engine(parsed, pool_size=10, max_overflow=40, pool_pre_ping=True,
                                        connect_args={"connect_timeout": 10, "options": options})
            self.writer = self.engine

    @property
    def description(self) -> str:
        """The database without its password, for logs and /health."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def read(self):
        with translate_errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self):
        with translate_errors(), self.writer.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
        if self.writer is not self.engine:
            self.writer.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None   # SQLAlchemy's "begin" listener issues BEGIN itself
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@contextmanager
def translate_errors():
    """Database and disk errors that are not bugs become one-line errors the server can answer."""
    from sqlalchemy import exc

    try:
        yield
    except exc.OperationalError as error:
        raise _translated(error) from None
    except exc.TimeoutError:
        raise DatabaseBusy("the database is overloaded (no free connection); try again") from None
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DiskFull("the server's disk is full; nothing was recorded") from None
        raise


def _translated(error) -> Exception:
    text = str(getattr(error, "orig", error)).strip().splitlines()[0] if str(error).strip() else ""
    low = text.lower()
    if "locked" in low or "busy" in low or "lock timeout" in low:
        return DatabaseBusy(f"the database is locked by another process ({text}); try again")
    if "disk is full" in low or "no space left" in low or "could not extend" in low:
        return DiskFull(f"the server's disk is full ({text}); nothing was recorded")
    if "connect" in low or "server closed" in low or "terminating connection" in low:
        return DatabaseBusy(f"the database is unreachable ({text}); try again")
    return error


def now() -> float:
    return time.time()


def migrate(db: Database, lock_dir=None) -> str:
    """Bring the schema to the newest revision (no-op when it is); returns the revision.

    Concurrent callers take turns: an advisory lock on PostgreSQL, a file lock next to
    the SQLite file (``lock_dir``, default its folder).
    """
    from alembic import command

    cfg = _alembic_config()
    with _migration_lock(db, lock_dir), translate_errors(), db.writer.connect() as conn:
        if db.kind == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(732457)")  # released at commit
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()
    return current_revision(db)


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def check_schema(db: Database) -> None:
    """Fail with one line unless the database is at this facebench's newest schema."""
    have, want = current_revision(db), head_revision()
    if have != want:
        raise FacebenchError(f"the server database {db.description} is at schema {have or 'none'}, this "
                             f"facebench needs {want}: start `facebench serve` once (it migrates)")


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


@contextmanager
def _migration_lock(db: Database, lock_dir):
    if db.kind != "sqlite":
        yield
        return
    import fcntl

    from sqlalchemy.engine import make_url

    folder = Path(lock_dir) if lock_dir else Path(make_url(db.url).database).parent
    fd = os.open(folder / ".migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
