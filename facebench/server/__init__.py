"""A hosted benchmark with hidden test ground truth: ``facebench serve`` (SPEC §8).

The server is a thin shell over the library (STYLE 16): uploads are checked by
:func:`facebench.evaluate.validate_predictions`, scored by
:func:`facebench.evaluate.evaluate`, and pages are drawn with the static site's
:mod:`facebench.leaderboard.webpage`.  What the server adds is state, kept in one
database (SQLite in the data folder, or PostgreSQL):

* ``config``      the data folder, GT per benchmark and phase, quotas, limits;
* ``db``          engine, migrations, transactions, database errors -> one line;
* ``schema``      the tables (SQLAlchemy Core);
* ``accounts``    users, API tokens (stored hashed), browser sessions;
* ``submissions`` accepting an upload (validation, quota) and what a user may see of it;
* ``jobs``        the durable job queue and the scoring worker;
* ``uploads``     streaming multipart uploads to disk with a size limit;
* ``board``       live leaderboards and exporting records for the static site;
* ``app``/``web``/``pages`` the HTTP API (``/api/v1/``) and the server-rendered pages;
* ``run``         starting the web server and its worker processes;
* ``client``      ``facebench submit`` (standard library only: participants install nothing more).

Everything but ``client`` needs the ``server`` extra: ``pip install 'facebench[server]'``.
"""
