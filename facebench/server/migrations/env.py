"""Alembic environment of the facebench server database.

facebench runs migrations itself (:func:`facebench.server.db.migrate`), handing over an
open connection; a maintainer writing a new revision can also point Alembic at a
database URL (``alembic -x url=sqlite:///DATA/facebench-server.sqlite3 ...``; see
docs/SERVER.md).  ``render_as_batch`` lets later revisions alter tables on SQLite.
"""

from alembic import context
from sqlalchemy import create_engine, pool

from facebench.server.schema import metadata

config = context.config


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    with create_engine(url, poolclass=pool.NullPool).connect() as conn:
        run(conn)
