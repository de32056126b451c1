"""The HTTP API under ``/api/v1/`` (SPEC §8): handlers parse, authorise and call the library.

    GET  /api/v1/health                       server, database, queue and workers (public)
    GET  /api/v1/benchmarks                   benchmarks and phases scored here, with quotas (public)
    GET  /api/v1/me                           who the token belongs to
    POST /api/v1/submissions                  multipart: file (.zip), benchmark, phase -> 201
    GET  /api/v1/submissions[?benchmark=&phase=]   the caller's submissions
    GET  /api/v1/submissions/{id}             one submission and its results (phase-dependent)
    GET  /api/v1/leaderboards/{benchmark}?phase=test|validation   (public)
    GET  /api/v1/openapi.json                 this API's schema

Requests carry ``Authorization: Bearer TOKEN``.  Errors are ``{"detail": one line}``
(plus ``problems`` for a refused submission): 401 bad token, 404 unknown or another
user's submission, 413 too large, 422 invalid submission, 429 quota, 503 database busy
(retry), 507 disk full.
"""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from facebench.errors import FacebenchError
from facebench.server import accounts, board, submissions
from facebench.server.accounts import Unauthorized
from facebench.server.config import ServerConfig
from facebench.server.db import Database, DatabaseBusy, DiskFull
from facebench.server.uploads import BadUpload, receive_upload

UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "the predictions folder as a .zip"},
        "benchmark": {"type": "string", "description": "default: meta.json's benchmark"},
        "phase": {"type": "string", "enum": ["test", "validation"], "default": "test"}}}}}}}


def create_app(config: ServerConfig, db: Database):
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from facebench import __version__
    from facebench.server import web

    app = FastAPI(title="facebench server", version=__version__, openapi_url="/api/v1/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="A hosted facebench benchmark: hidden test GT, scored by `facebench evaluate`.")
    app.state.config, app.state.db = config, db

    @app.exception_handler(FacebenchError)
    async def facebench_error(request: Request, exc: FacebenchError):
        status, headers, body = error_response(exc)
        if not request.url.path.startswith("/api/"):
            return web.error_page(request, status, str(exc), body.get("problems"))
        return JSONResponse(body, status_code=status, headers=headers)

    def bearer(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    async def api_user(request: Request):
        return await run_in_threadpool(accounts.user_for_token, db, bearer(request))

    @app.get("/api/v1/health")
    def health():
        return health_report(db, config)

    @app.get("/api/v1/benchmarks")
    def benchmarks():
        report = health_report(db, config)
        return {"benchmarks": report["benchmarks"], "max_upload_bytes": report["max_upload_bytes"]}

    @app.get("/api/v1/me")
    async def me(request: Request):
        user = await api_user(request)
        return {"user": user.name, "is_admin": user.is_admin}

    @app.post("/api/v1/submissions", status_code=201, openapi_extra=UPLOAD_BODY)
    async def create_submission(request: Request):
        user = await api_user(request)
        upload = await receive_upload(request, config.uploads_dir, config.max_upload_bytes)
        return await run_in_threadpool(submissions.accept, db, config, user, upload,
                                       upload.fields.get("benchmark") or None,
                                       upload.fields.get("phase") or None)

    @app.get("/api/v1/submissions")
    async def list_submissions(request: Request, benchmark: str | None = None, phase: str | None = None):
        user = await api_user(request)
        rows = await run_in_threadpool(submissions.list_submissions, db, user, benchmark, phase)
        return {"submissions": rows}

    @app.get("/api/v1/submissions/{sub_id}")
    async def get_submission(request: Request, sub_id: str, full: bool = False):
        user = await api_user(request)
        return await run_in_threadpool(submissions.get_submission, db, user, sub_id, full)

    @app.get("/api/v1/leaderboards/{benchmark}")
    def get_leaderboard(benchmark: str, phase: str = "test"):
        return board.leaderboard(db, benchmark, phase)

    web.add_routes(app, config, db)
    return app


def error_response(exc: FacebenchError) -> tuple[int, dict, dict]:
    """(HTTP status, headers, JSON body) of a one-line error."""
    body = {"detail": str(exc)}
    headers = {}
    if isinstance(exc, Unauthorized):
        return 401, {"WWW-Authenticate": "Bearer"}, body
    if isinstance(exc, submissions.NotFound):
        return 404, headers, body
    if isinstance(exc, submissions.Refused):
        return exc.status, headers, {**body, "problems": exc.problems}
    if isinstance(exc, BadUpload):
        return exc.status, headers, body
    if isinstance(exc, DatabaseBusy):
        return 503, {"Retry-After": "5"}, body
    if isinstance(exc, DiskFull):
        return 507, headers, body
    return 400, headers, body


def health_report(db: Database, config: ServerConfig) -> dict:
    from sqlalchemy import func, select

    from facebench import __version__
    from facebench.server import schema as s
    from facebench.server.db import now

    with db.read() as conn:
        states = dict(conn.execute(select(s.submissions.c.state, func.count())
                                   .group_by(s.submissions.c.state)).all())
        workers = conn.execute(select(s.workers).where(s.workers.c.last_seen > now() - 60)).all()
    tracks = submissions.track_rows(db)
    offered = [tracks[t.benchmark, t.phase] for t in config.tracks if (t.benchmark, t.phase) in tracks]
    return {"status": "ok", "facebench_version": __version__, "database": db.kind,
            "max_upload_bytes": config.max_upload_bytes,
            "queue": {state: states.get(state, 0) for state in ("queued", "running", "scored", "failed")},
            "workers": [{"id": w.id, "last_seen": w.last_seen, "submission": w.submission_id}
                        for w in workers],
            "benchmarks": [{"benchmark": t.benchmark, "phase": t.phase,
                            "gt_manifest_sha256": t.gt_manifest_sha256,
                            "quota": {"per_day": t.per_day, "total": t.total}} for t in offered]}
