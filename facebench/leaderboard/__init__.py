"""Leaderboards: results records merged into ranked CSV, Markdown and PNG tables.

``publish(results_paths, out="leaderboards")`` writes ``{benchmark}-v{version}.csv``,
``.md`` and ``.png``; ``show(name)`` prints one.  See docs/LEADERBOARDS.md.
"""

from facebench.leaderboard.records import Record, higher_is_better, load_record
from facebench.leaderboard.table import find_table, main_metric, merge, publish, rank, read_table, show

__all__ = ["Record", "find_table", "higher_is_better", "load_record", "main_metric", "merge", "publish",
           "rank", "read_table", "show"]
