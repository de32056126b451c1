"""Kept for imports written before the backends moved to :mod:`facebench.parallel`."""

from facebench.parallel import BACKENDS, backend_context

__all__ = ["BACKENDS", "backend_context"]
