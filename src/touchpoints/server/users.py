"""Dashboard users, password hashing and signed session cookies.

Passwords are hashed with scrypt (salted; the parameters travel in the stored string so
they can be raised later without breaking old hashes). A session is a cookie holding the
username and an expiry, signed with HMAC-SHA256: no session table to clean up, and a
deleted user is logged out on the next request because the role is read from the store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import HTTPException, Request

from touchpoints.core.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from touchpoints.store.base import Store

ROLES = ("admin", "analyst", "supervisor")
COOKIE = "tp_session"
SESSION_SECONDS = 12 * 3600
# scrypt cost: n=2**14, r=8 uses 16 MiB and ~50 ms; enough against offline guessing
# without making a login noticeably slow.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")


@dataclass(frozen=True)
class User:
    username: str
    role: str

    def can(self, *roles: str) -> bool:
        """Admins can do everything; others only what their role is listed for."""
        return self.role == "admin" or self.role in roles


# -- passwords -------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


# -- user records ----------------------------------------------------------------------------
def check_username(username: str) -> str:
    name = username.strip().lower()
    if not name or len(name) > 64 or not set(name) <= USERNAME_CHARS:
        raise UsageError(f"--username {username!r}: use 1-64 letters, digits, '.', '_', '-' or '@'")
    return name


def create_user(store: Store, username: str, password: str, role: str) -> User:
    """Add a user; an existing username is an error (delete it first to reset)."""
    name = check_username(username)
    if role not in ROLES:
        raise UsageError(f"--role {role!r}: use admin, analyst or supervisor")
    if len(password) < 8:
        raise UsageError("--password: use at least 8 characters")
    if get_user(store, name) is not None:
        raise UsageError(f"user {name!r} already exists")
    store.execute(
        "INSERT INTO users (username, password_hash, role, created_at) "
        "VALUES ($username, $password_hash, $role, $created_at)",
        {
            "username": name,
            "password_hash": hash_password(password),
            "role": role,
            "created_at": datetime.now(UTC).replace(tzinfo=None),
        },
    )
    return User(name, role)


def get_user(store: Store, username: str) -> User | None:
    rows = store.query(
        "SELECT username, role FROM users WHERE username = $username", {"username": username}
    )
    return User(rows[0]["username"], rows[0]["role"]) if rows else None


def list_users(store: Store) -> list[dict[str, Any]]:
    rows = store.query("SELECT username, role, created_at FROM users ORDER BY username")
    return [
        {"username": r["username"], "role": r["role"], "created_at": str(r["created_at"])}
        for r in rows
    ]


def delete_user(store: Store, username: str) -> bool:
    name = username.strip().lower()
    if get_user(store, name) is None:
        return False
    store.execute("DELETE FROM users WHERE username = $username", {"username": name})
    return True


def authenticate(store: Store, username: str, password: str) -> User | None:
    name = username.strip().lower()
    rows = store.query(
        "SELECT username, role, password_hash FROM users WHERE username = $username",
        {"username": name},
    )
    if not rows:
        # Spend the same time as a real check, so timing does not tell which users exist.
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, rows[0]["password_hash"]):
        return None
    return User(rows[0]["username"], rows[0]["role"])


_DUMMY_HASH = hash_password(secrets.token_hex(8))


# -- sessions --------------------------------------------------------------------------------
_SECRETS: weakref.WeakKeyDictionary[Any, bytes] = weakref.WeakKeyDictionary()


def session_secret(service: Any) -> bytes:
    """settings.secret_key, else a random key kept in `meta` so restarts keep sessions."""
    if service in _SECRETS:
        return _SECRETS[service]
    configured = service.settings.secret_key
    if configured is not None:
        secret = configured.get_secret_value().encode()
    else:
        with service.lock:
            store = service.store
            rows = store.query("SELECT value FROM meta WHERE key = 'session_secret'")
            if rows:
                secret = rows[0]["value"].encode()
            else:
                value = secrets.token_hex(32)
                store.execute(
                    "INSERT INTO meta (key, value) VALUES ('session_secret', $value)",
                    {"value": value},
                )
                secret = value.encode()
    _SECRETS[service] = secret
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(secret: bytes, username: str, now: float | None = None) -> str:
    payload = _b64(
        json.dumps({"u": username, "exp": int((now or time.time()) + SESSION_SECONDS)}).encode()
    )
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def read_session(secret: bytes, cookie: str, now: float | None = None) -> str | None:
    """The username in a valid, unexpired cookie; None for anything tampered or stale."""
    try:
        payload, mac = cookie.split(".")
        want = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
        # Compare the text, not the decoded bytes: base64 ignores the last character's
        # spare bits, and a cookie that is not exactly what we issued is not ours.
        if not hmac.compare_digest(_b64(want), mac):
            return None
        data = json.loads(_unb64(payload))
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("exp", 0) < (now or time.time()):
        return None
    username = data.get("u")
    return username if isinstance(username, str) else None


# -- FastAPI dependencies --------------------------------------------------------------------
def login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(status_code=303, headers={"Location": f"/login?next={quote(target)}"})


def optional_user(request: Request) -> User | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    service = request.app.state.service
    username = read_session(session_secret(service), cookie)
    if username is None:
        return None
    return service.read(get_user, username)


def current_user(request: Request) -> User:
    """The logged-in user; otherwise a redirect to /login?next=<this page>."""
    user = optional_user(request)
    if user is None:
        raise login_redirect(request)
    return user


class Forbidden(HTTPException):
    """A signed-in user whose role does not cover the page (a page, not an API error:
    app.py answers browsers with the dashboard's HTML page, other clients with JSON)."""

    def __init__(self) -> None:
        super().__init__(status_code=403, detail="your role cannot open this page")


def require_role(*roles: str) -> Callable[[Request], User]:
    """A dependency letting in admins and the listed roles; others get 403."""

    def dependency(request: Request) -> User:
        user = current_user(request)
        if not user.can(*roles):
            raise Forbidden()
        return user

    return dependency
