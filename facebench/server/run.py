"""Starting a server: checks, migrations, the listening socket, uvicorn, and its worker processes.

    facebench serve --data DIR --gt synth-v2=GT [--workers 1] [--db postgresql://...]

One server per data folder (an ``flock`` on ``DIR/.server.lock``; the kernel drops it
when the process dies, even by SIGKILL).  Workers started with ``--workers N`` are
separate processes (``facebench serve worker --parent PID``): a crash in scoring never
takes the web server down; they are restarted when they die and stop when the server
is gone.  More workers can run anywhere that reaches the database and the data folder.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from facebench.errors import FacebenchError
from facebench.server.config import DB_ENV, ServerConfig, check_tracks
from facebench.server.db import Database, migrate


def open_database(config: ServerConfig) -> Database:
    """The server database, migrated to this facebench's schema."""
    db = Database(config.db_url, config.busy_timeout_s)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(db, lock_dir=config.data_dir)
    return db


def serve(config: ServerConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          config_file=None, log_level: str = "info") -> None:
    """Run the web server (and ``workers`` scoring processes) until interrupted."""
    import uvicorn

    from facebench.server.app import create_app
    from facebench.server.submissions import register_tracks

    if not config.tracks:
        raise FacebenchError("no benchmark to serve: pass --gt BENCHMARK=GT_DIR (or list them in "
                             "server.yaml)")
    config = check_tracks(config)
    lock = _lock_data_dir(config)
    db = open_database(config)
    register_tracks(db, config)
    for stale in config.uploads_dir.glob(".part-*"):    # uploads cut off by a previous crash
        stale.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise FacebenchError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(2048)
    url = f"http://{host}:{sock.getsockname()[1]}/"
    tracks = ", ".join(f"{t.benchmark} ({t.phase})" for t in config.tracks)
    print(f"facebench serve: listening on {url} (database {db.description}; {workers} worker(s); "
          f"scoring {tracks})", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(config, db), log_level=log_level, proxy_headers=True,
                                           timeout_graceful_shutdown=10, lifespan="off"))
    # uvicorn handles SIGTERM while it runs, then raises it again to the handler that was there before:
    # this one (also covering a SIGTERM before uvicorn starts) lets the workers be stopped below and
    # the process exit with status 0
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    pool = WorkerPool(workers, config, config_file)
    pool.start()
    try:
        server.run(sockets=[sock])
    finally:
        pool.stop()
        db.dispose()
        os.close(lock)


def _lock_data_dir(config: ServerConfig) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(config.data_dir / ".server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise FacebenchError(f"another facebench serve (pid {holder}) uses {config.data_dir}") from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


class WorkerPool:
    """``n`` worker processes, restarted when they die (with a pause if they keep dying)."""

    def __init__(self, n: int, config: ServerConfig, config_file=None):
        self.n, self.config, self.config_file = n, config, config_file
        self.procs: list[subprocess.Popen | None] = [None] * n
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "facebench", "serve", "worker", "--data", str(self.config.data_dir),
               "--parent", str(os.getpid())]
        return cmd + (["--config", str(self.config_file)] if self.config_file else [])

    def start(self) -> None:
        if self.n:
            self.thread.start()

    def _spawn(self, i: int) -> None:
        env = dict(os.environ, **{DB_ENV: self.config.db_url})     # not in argv: ps would show a password
        self.procs[i] = subprocess.Popen(self.command(), env=env, stdin=subprocess.DEVNULL)

    def _watch(self) -> None:
        restarts: list[float] = []
        while not self.stopping.is_set():
            for i, proc in enumerate(self.procs):
                if proc is None or proc.poll() is not None:
                    if proc is not None:
                        print(f"facebench serve: worker {proc.pid} exited ({proc.returncode}); restarting",
                              file=sys.stderr, flush=True)
                        restarts = [t for t in restarts if t > time.time() - 60] + [time.time()]
                        if len(restarts) > 5:
                            self.stopping.wait(10)
                    if not self.stopping.is_set():
                        self._spawn(i)
            self.stopping.wait(1.0)

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()
        live = [p for p in self.procs if p is not None and p.poll() is None]
        for proc in live:
            proc.terminate()
        deadline = time.time() + timeout
        for proc in live:
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
