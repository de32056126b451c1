"""Users, API tokens and browser sessions.

A token is 32 random bytes (``fbt_`` + URL-safe base64), shown once when it is made;
the database keeps only its SHA-256.  A slow password hash (bcrypt, argon2) protects
short, human-chosen secrets against guessing; a 256-bit random token cannot be guessed,
so one SHA-256 is enough and lets a request be authorised with one indexed lookup.
Browser sessions work the same way: the cookie is random, the database has its hash and
a per-session CSRF token that every form must echo.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from facebench.errors import FacebenchError, InputError
from facebench.server import schema as s
from facebench.server.db import Database, now

TOKEN_PREFIX = "fbt_"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class Unauthorized(FacebenchError):
    """No valid credentials: HTTP 401."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    is_admin: bool


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def add_user(db: Database, name: str, admin: bool = False) -> str:
    """Create ``name`` (or re-enable a revoked one) and return a new API token (shown once)."""
    from sqlalchemy import insert, select, update

    if not NAME_RE.match(name or ""):
        raise InputError(f"invalid user name {name!r}: 1-64 letters, digits, '_', '.', '@', '-'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    t = now()
    with db.write() as conn:
        row = conn.execute(select(s.users.c.id).where(s.users.c.name == name)).first()
        if row is None:
            new = insert(s.users).values(name=name, is_admin=admin, created_at=t)
            user_id = conn.execute(new).inserted_primary_key[0]
        else:
            user_id = row.id
            values = {"revoked_at": None}
            if admin:
                values["is_admin"] = True
            conn.execute(update(s.users).where(s.users.c.id == user_id).values(**values))
        conn.execute(insert(s.tokens).values(user_id=user_id, sha256=digest(token), prefix=token[:10],
                                             created_at=t))
    return token


def revoke_user(db: Database, name: str) -> int:
    """Revoke every token and session of ``name``; returns how many tokens were revoked."""
    from sqlalchemy import delete, select, update

    t = now()
    with db.write() as conn:
        row = conn.execute(select(s.users.c.id).where(s.users.c.name == name)).first()
        if row is None:
            raise InputError(f"no user {name!r} on this server")
        conn.execute(update(s.users).where(s.users.c.id == row.id).values(revoked_at=t))
        live = (s.tokens.c.user_id == row.id) & s.tokens.c.revoked_at.is_(None)
        done = conn.execute(update(s.tokens).where(live).values(revoked_at=t)).rowcount
        conn.execute(delete(s.sessions).where(s.sessions.c.user_id == row.id))
    return done


def list_users(db: Database) -> list[dict]:
    from sqlalchemy import func, select

    active = (select(s.tokens.c.user_id, func.count().label("n")).where(s.tokens.c.revoked_at.is_(None))
              .group_by(s.tokens.c.user_id).subquery())
    query = (select(s.users, func.coalesce(active.c.n, 0).label("tokens"))
             .outerjoin(active, active.c.user_id == s.users.c.id).order_by(s.users.c.name))
    with db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def user_for_token(db: Database, token: str | None) -> User:
    """The user a bearer token belongs to; Unauthorized when it is unknown or revoked."""
    from sqlalchemy import select

    if not token:
        raise Unauthorized("missing API token (send 'Authorization: Bearer TOKEN')")
    query = (select(s.users.c.id, s.users.c.name, s.users.c.is_admin)
             .join(s.tokens, s.tokens.c.user_id == s.users.c.id)
             .where(s.tokens.c.sha256 == digest(token), s.tokens.c.revoked_at.is_(None),
                    s.users.c.revoked_at.is_(None)))
    with db.read() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise Unauthorized("invalid or revoked API token")
    return User(row.id, row.name, bool(row.is_admin))


def start_session(db: Database, token: str, hours: float) -> tuple[str, User]:
    """Log in with an API token: (session cookie value, user)."""
    user = user_for_token(db, token.strip())
    cookie = secrets.token_urlsafe(32)
    t = now()
    from sqlalchemy import delete, insert

    with db.write() as conn:
        conn.execute(delete(s.sessions).where(s.sessions.c.expires_at < t))
        conn.execute(insert(s.sessions).values(sha256=digest(cookie), user_id=user.id,
                                               csrf=secrets.token_urlsafe(24), created_at=t,
                                               expires_at=t + hours * 3600))
    return cookie, user


def session_user(db: Database, cookie: str | None) -> tuple[User, str] | None:
    """(user, CSRF token) of a live session cookie, or None."""
    from sqlalchemy import select

    if not cookie:
        return None
    query = (select(s.users.c.id, s.users.c.name, s.users.c.is_admin, s.sessions.c.csrf)
             .join(s.sessions, s.sessions.c.user_id == s.users.c.id)
             .where(s.sessions.c.sha256 == digest(cookie), s.sessions.c.expires_at > now(),
                    s.users.c.revoked_at.is_(None)))
    with db.read() as conn:
        row = conn.execute(query).first()
    return None if row is None else (User(row.id, row.name, bool(row.is_admin)), row.csrf)


def end_session(db: Database, cookie: str | None) -> None:
    from sqlalchemy import delete

    if cookie:
        with db.write() as conn:
            conn.execute(delete(s.sessions).where(s.sessions.c.sha256 == digest(cookie)))


def same_secret(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and secrets.compare_digest(a, b)
