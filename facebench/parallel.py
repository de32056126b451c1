"""Scale-out backends shared by ``prepare`` (sequences) and ``evaluate`` (clips): joblib,
locally or on a cluster.

``loky`` runs local worker processes; ``dask`` runs on a Dask distributed cluster
(``scheduler`` is its address, an existing ``distributed.Client``, or None for a
LocalCluster); ``ray`` on a Ray cluster (``scheduler`` is ``ray.init``'s address).
Every backend runs the same pure per-item function (a sequence to fit, a batch of
clips to score), and the parent process commits the results, so the output does not
depend on the backend.  This module sits below both users (STYLE 13): evaluate never
imports prepare's fitting code to scale out.
"""

from __future__ import annotations

import contextlib

from facebench.errors import FacebenchError, require

BACKENDS = ("loky", "dask", "ray")
__all__ = ["BACKENDS", "backend_context", "return_as"]


@contextlib.contextmanager
def backend_context(backend: str, workers: int, scheduler=None):
    """Yields the ``n_jobs`` to give ``joblib.Parallel`` inside the configured backend."""
    import joblib

    if backend not in BACKENDS:
        raise FacebenchError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    workers = max(1, int(workers))
    if backend == "loky":
        if scheduler is not None:
            raise FacebenchError("--scheduler needs --backend dask or ray")
        yield workers
        return
    if backend == "dask":
        with _dask_client(workers, scheduler) as client:
            with joblib.parallel_config(backend="dask", wait_for_workers_timeout=60):
                n = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
                yield max(1, n)
        return
    ray = require("ray", "ray")
    from ray.util.joblib import register_ray

    started = False
    if not ray.is_initialized():
        ray.init(address=scheduler, num_cpus=None if scheduler else workers, log_to_driver=False)
        started = True
    register_ray()
    try:
        with joblib.parallel_config(backend="ray"):
            yield workers
    finally:
        if started:
            ray.shutdown()


def return_as(preferred: str = "generator") -> str:
    """``preferred`` (``generator`` or ``generator_unordered``) when the active joblib backend
    can stream results, else ``list`` (Ray's backend cannot: results then come at the end)."""
    from joblib.parallel import get_active_backend

    backend, _ = get_active_backend()
    return preferred if getattr(backend, "supports_return_generator", False) else "list"


@contextlib.contextmanager
def _dask_client(workers: int, scheduler):
    require("distributed", "dask")
    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # an existing Client
        return
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise FacebenchError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
