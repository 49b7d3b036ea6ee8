"""Dashboard users, password hashing and signed session cookies.

Passwords are hashed with scrypt (salted; the parameters travel in the stored string so
they can be raised later without breaking old hashes). A session is a cookie holding the
username, the user's session epoch and an expiry, signed with HMAC-SHA256. The epoch is a
random value kept in `meta` per user and replaced at logout, at a password or role change
and when the user is deleted or created again: every cookie issued before stops working
at once (in every worker: it is read from the store with the user's role).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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
EPOCH_KEY = "session_epoch:"
DEFAULT_SECRET_FILE = Path.home() / ".local" / "state" / "touchpoints" / "secret_key"


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
    store.refuse_operational("dashboard users")
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
    end_sessions(store, name)
    return User(name, role)


def end_sessions(store: Store, username: str) -> None:
    """A new session epoch for `username`: every cookie issued before no longer works."""
    store.refuse_operational("dashboard users")
    key = EPOCH_KEY + username
    store.execute("DELETE FROM meta WHERE key = $key", {"key": key})
    store.execute(
        "INSERT INTO meta (key, value) VALUES ($key, $value)",
        {"key": key, "value": secrets.token_hex(16)},
    )


def update_user(
    store: Store, username: str, role: str | None = None, password: str | None = None
) -> User:
    """Change a user's role and/or password; both end the user's sessions."""
    store.refuse_operational("dashboard users")
    name = username.strip().lower()
    if get_user(store, name) is None:
        raise UsageError(f"no user {name!r}")
    if role is not None:
        if role not in ROLES:
            raise UsageError(f"--role {role!r}: use admin, analyst or supervisor")
        store.execute(
            "UPDATE users SET role = $role WHERE username = $username",
            {"role": role, "username": name},
        )
    if password is not None:
        if len(password) < 8:
            raise UsageError("--password: use at least 8 characters")
        store.execute(
            "UPDATE users SET password_hash = $hash WHERE username = $username",
            {"hash": hash_password(password), "username": name},
        )
    end_sessions(store, name)
    user = get_user(store, name)
    assert user is not None
    return user


def session_user(store: Store, username: str, epoch: str | None) -> User | None:
    """The user a session cookie names, if it still exists and the cookie's epoch is its
    current one (so logout, deletion, role and password changes end old sessions)."""
    rows = store.query(
        "SELECT u.username, u.role, m.value AS epoch FROM users u "
        "LEFT JOIN meta m ON m.key = $prefix || u.username WHERE u.username = $username",
        {"prefix": EPOCH_KEY, "username": username},
    )
    if not rows or rows[0]["epoch"] is None or epoch is None:
        return None
    if not hmac.compare_digest(str(rows[0]["epoch"]), epoch):
        return None
    return User(rows[0]["username"], rows[0]["role"])


def session_epoch(store: Store, username: str) -> str:
    """The user's current epoch (made on first use for users created before epochs)."""
    store.refuse_operational("dashboard users")
    rows = store.query("SELECT value FROM meta WHERE key = $key", {"key": EPOCH_KEY + username})
    if rows:
        return str(rows[0]["value"])
    end_sessions(store, username)
    return session_epoch(store, username)


def get_user(store: Store, username: str) -> User | None:
    store.refuse_operational("dashboard users")
    rows = store.query(
        "SELECT username, role FROM users WHERE username = $username", {"username": username}
    )
    return User(rows[0]["username"], rows[0]["role"]) if rows else None


def list_users(store: Store) -> list[dict[str, Any]]:
    store.refuse_operational("dashboard users")
    rows = store.query("SELECT username, role, created_at FROM users ORDER BY username")
    return [
        {"username": r["username"], "role": r["role"], "created_at": str(r["created_at"])}
        for r in rows
    ]


def delete_user(store: Store, username: str) -> bool:
    store.refuse_operational("dashboard users")
    name = username.strip().lower()
    if get_user(store, name) is None:
        return False
    store.execute("DELETE FROM users WHERE username = $username", {"username": name})
    store.execute("DELETE FROM meta WHERE key = $key", {"key": EPOCH_KEY + name})
    return True


def authenticate(store: Store, username: str, password: str) -> User | None:
    name = username.strip().lower()
    if not name or len(name) > 64 or not set(name) <= USERNAME_CHARS:
        verify_password(password, _DUMMY_HASH)  # no name of this shape exists: same time
        return None
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
    """settings.secret_key, else a random key kept in a file only its owner may read
    (settings.secret_key_file): never in the store, where read access to the database
    would be enough to forge an admin's cookie. Several workers on one machine share the
    file; several machines need TOUCHPOINTS_SECRET_KEY."""
    if service in _SECRETS:
        return _SECRETS[service]
    configured = service.settings.secret_key
    if configured is not None:
        secret = configured.get_secret_value().encode()
    else:
        secret = _secret_from_file(Path(service.settings.secret_key_file or DEFAULT_SECRET_FILE))
        with service.lock:  # a secret of older versions lay in `meta`: no longer trusted
            service.store.execute("DELETE FROM meta WHERE key = 'session_secret'")
    _SECRETS[service] = secret
    return secret


def _secret_from_file(path: Path) -> bytes:
    """The key in `path`, made (mode 0600, created exclusively) when missing; refused when
    others may read it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UsageError(f"cannot create the session secret file {path}: {exc.strerror}") from None
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    mode = path.stat().st_mode
    if mode & 0o077:
        raise UsageError(
            f"{path} is readable by others (mode {mode & 0o777:o}): chmod 600 it, "
            "or set TOUCHPOINTS_SECRET_KEY"
        )
    secret = path.read_text().strip()
    if len(secret) < 32:
        raise UsageError(f"{path}: the session secret is too short (64 hex digits expected)")
    return secret.encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(
    secret: bytes, username: str, now: float | None = None, epoch: str | None = None
) -> str:
    data = {"u": username, "exp": int((now or time.time()) + SESSION_SECONDS), "g": epoch}
    payload = _b64(json.dumps(data).encode())
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def read_session(secret: bytes, cookie: str, now: float | None = None) -> str | None:
    """The username in a valid, unexpired cookie; None for anything tampered or stale."""
    claims = session_claims(secret, cookie, now)
    return claims[0] if claims else None


def session_claims(
    secret: bytes, cookie: str, now: float | None = None
) -> tuple[str, str | None] | None:
    """(username, epoch) of a valid, unexpired cookie; None for anything tampered or stale."""
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
    username, epoch = data.get("u"), data.get("g")
    if not isinstance(username, str):
        return None
    return username, epoch if isinstance(epoch, str) else None


# -- FastAPI dependencies --------------------------------------------------------------------
def login_redirect(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(status_code=303, headers={"Location": f"/login?next={quote(target)}"})


def optional_user(request: Request) -> User | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    service = request.app.state.service
    claims = session_claims(session_secret(service), cookie)
    if claims is None:
        return None
    return service.read(session_user, *claims)


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
