"""Browser routes: live leaderboards, log in with an API token, upload, a user's submissions.

Sessions: logging in with an API token sets an HttpOnly, SameSite=Strict cookie whose
hash is stored with a per-session CSRF token; every form that changes state (upload,
log out) must echo that token.  The log-in form itself is protected by a double-submit
token (a cookie and a hidden field that must match).
"""

from __future__ import annotations

import secrets

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from facebench.server import accounts, board, pages, submissions
from facebench.server.accounts import Unauthorized
from facebench.server.uploads import BadUpload, receive_upload

SESSION = "fb_session"
LOGIN_CSRF = "fb_login_csrf"


def error_page(request, status: int, message: str, problems=None):
    from fastapi.responses import HTMLResponse

    try:
        user, csrf = _current(request.app.state.db, request)
    except Exception:          # the page must render even when the database is what failed
        user, csrf = None, None
    return HTMLResponse(pages.error_page(status, message, problems, user, csrf), status_code=status)


def _current(db, request):
    found = accounts.session_user(db, request.cookies.get(SESSION))
    return found if found is not None else (None, None)


def _offered(config, db) -> list:
    rows = submissions.track_rows(db)
    return [rows[t.benchmark, t.phase] for t in config.tracks if (t.benchmark, t.phase) in rows]


def add_routes(app, config, db) -> None:
    from fastapi.responses import HTMLResponse, RedirectResponse

    def to_login():
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        user, csrf = _current(db, request)
        return pages.index_page(_offered(config, db), user, csrf)

    @app.get("/leaderboard/{benchmark}", response_class=HTMLResponse, include_in_schema=False)
    def leaderboard(request: Request, benchmark: str, phase: str = "test"):
        from facebench.benchmarks import get_benchmark

        user, csrf = _current(db, request)
        data = board.leaderboard(db, benchmark, phase)
        return pages.leaderboard_page(data, get_benchmark(benchmark).description, user, csrf)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request):
        token = secrets.token_urlsafe(24)
        response = HTMLResponse(pages.login_page(token))
        _cookie(response, request, LOGIN_CSRF, token, 3600)
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await request.form(max_files=0, max_fields=4, max_part_size=4096)
        if not accounts.same_secret(form.get("csrf"), request.cookies.get(LOGIN_CSRF)):
            return _login_again(request, "the log-in form expired; try again", 403)
        try:
            cookie, _ = await run_in_threadpool(accounts.start_session, db, str(form.get("token") or ""),
                                                config.session_hours)
        except Unauthorized as exc:
            return _login_again(request, str(exc), 401)
        response = RedirectResponse("/me", status_code=303)
        _cookie(response, request, SESSION, cookie, int(config.session_hours * 3600))
        response.delete_cookie(LOGIN_CSRF, path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request):
        form = await request.form(max_files=0, max_fields=4, max_part_size=4096)
        user, csrf = await run_in_threadpool(_current, db, request)
        if user is not None and accounts.same_secret(form.get("csrf"), csrf):
            await run_in_threadpool(accounts.end_session, db, request.cookies.get(SESSION))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION, path="/")
        return response

    @app.get("/me", response_class=HTMLResponse, include_in_schema=False)
    def mine(request: Request):
        user, csrf = _current(db, request)
        if user is None:
            return to_login()
        return pages.submissions_page(submissions.list_submissions(db, user), user, csrf)

    @app.get("/submissions/{sub_id}", response_class=HTMLResponse, include_in_schema=False)
    def submission(request: Request, sub_id: str):
        user, csrf = _current(db, request)
        if user is None:
            return to_login()
        return pages.submission_page(submissions.get_submission(db, user, sub_id), user, csrf)

    @app.get("/upload", response_class=HTMLResponse, include_in_schema=False)
    def upload_form(request: Request):
        user, csrf = _current(db, request)
        if user is None:
            return to_login()
        return pages.upload_page(_offered(config, db), user, csrf)

    @app.post("/upload", include_in_schema=False)
    async def upload(request: Request):
        user, csrf = await run_in_threadpool(_current, db, request)
        if user is None:
            return to_login()
        received = await receive_upload(request, config.uploads_dir, config.max_upload_bytes)
        if not accounts.same_secret(received.fields.get("csrf"), csrf):
            received.discard()
            raise BadUpload("the upload form expired or was not sent from this site; reload it and try again",
                            403)
        benchmark, _, phase = received.fields.get("track", "").partition("|")
        try:
            sub = await run_in_threadpool(submissions.accept, db, config, user, received, benchmark or None,
                                          phase or None)
        except submissions.Refused as exc:
            tracks = await run_in_threadpool(_offered, config, db)
            return HTMLResponse(pages.upload_page(tracks, user, csrf, str(exc), exc.problems),
                                status_code=exc.status)
        return RedirectResponse(f"/submissions/{sub['id']}", status_code=303)


def _login_again(request, message: str, status: int):
    from fastapi.responses import HTMLResponse

    token = secrets.token_urlsafe(24)
    response = HTMLResponse(pages.login_page(token, message), status_code=status)
    _cookie(response, request, LOGIN_CSRF, token, 3600)
    return response


def _cookie(response, request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
