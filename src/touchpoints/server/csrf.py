"""Cross-site request forgery: one helper for every HTML form that changes something.

Two independent checks, both on every unsafe request through `csrf_protect`:

- the browser's own word on where the request comes from: `Sec-Fetch-Site` other than
  `same-origin`/`none`, or an `Origin` other than this site's, is refused;
- a synchronizer token: the form carries `csrf_token`, an HMAC (with the session secret)
  of a random value the browser holds in the `tp_csrf` cookie. A page on another site can
  neither read the cookie nor compute the HMAC, so it cannot forge the field.

Using it in a new form (docs/security.md says the same):

- route: `@router.post("/path", dependencies=[Depends(csrf_protect)])`;
- template: `{{ csrf_field() }}` inside the `<form method="post">` (`render()` in
  `server/pages.py` and the login and survey pages pass `csrf_field`; elsewhere pass
  `**csrf_context(request)` to the template).

`tests/test_security.py` lists every non-API POST route of the app and checks that each
refuses a missing or wrong token, so a form added without the dependency fails the suite.
The cookie is set on the response by `EdgeMiddleware` (server/app.py) the first time a
page asks for a token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from markupsafe import Markup

COOKIE = "tp_csrf"
FIELD = "csrf_token"
STATE = "csrf_cookie"  # request.state attribute: a cookie value to set on the response
SAFE_SITES = ("same-origin", "none")
_VALUE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def _secret(request: Request) -> bytes:
    from touchpoints.server.users import session_secret

    return session_secret(request.app.state.service)


def _expected(secret: bytes, cookie: str) -> str:
    return hmac.new(secret, f"csrf:{cookie}".encode(), hashlib.sha256).hexdigest()


def _cookie(request: Request) -> str:
    """The browser's csrf cookie value, or a new one to be set with this response."""
    value = request.cookies.get(COOKIE, "")
    if _VALUE.match(value):
        return value
    fresh = getattr(request.state, STATE, None)
    if fresh is None:
        fresh = secrets.token_urlsafe(32)
        setattr(request.state, STATE, fresh)
    return fresh


def renew(request: Request) -> None:
    """A new cookie value with this response (at sign-in and sign-out): a value planted
    before the session began is worth nothing after it."""
    setattr(request.state, STATE, secrets.token_urlsafe(32))


def csrf_token(request: Request) -> str:
    """The token for forms on the page answering `request`."""
    fresh = getattr(request.state, STATE, None)
    return _expected(_secret(request), fresh or _cookie(request))


def csrf_field(request: Request) -> Markup:
    """`<input type="hidden" name="csrf_token" value="...">` for a form on this page."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, csrf_token(request))


def csrf_context(request: Request) -> dict[str, Any]:
    """Template values: `{{ csrf_field() }}` (and `csrf_token` for scripts that post)."""
    return {"csrf_field": lambda: csrf_field(request), "csrf_token": csrf_token(request)}


def cross_site(request: Request) -> str | None:
    """Why the request looks cross-site, or None.

    `Origin` is compared by host and port with the Host header the browser sent, not by
    scheme: behind a TLS proxy that is not listed in `trusted_proxies` the server sees
    http while the browser says https, and that is the same site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in SAFE_SITES:
        return f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("origin")
    if origin is not None:
        sent = urlsplit(origin.strip()).netloc.lower()
        if not sent or sent != request.headers.get("host", "").lower():
            return f"Origin {origin[:100]}"
    return None


def _refuse(why: str) -> HTTPException:
    return HTTPException(
        403, detail=f"form refused ({why}): reload the page and send the form again"
    )


async def csrf_protect(request: Request) -> None:
    """FastAPI dependency for every state-changing form: foreign origin or a missing or
    wrong token → 403, before the route does anything."""
    foreign = cross_site(request)
    if foreign is not None:
        raise _refuse(f"sent from another site: {foreign}")
    form = await request.form()
    sent = form.get(FIELD)
    cookie = request.cookies.get(COOKIE, "")
    if not isinstance(sent, str) or not sent or not _VALUE.match(cookie):
        raise _refuse("no security token")
    if not hmac.compare_digest(sent, _expected(_secret(request), cookie)):
        raise _refuse("wrong security token")


def set_cookie_header(value: str, secure: bool) -> bytes:
    """The Set-Cookie header value for a new csrf cookie (HttpOnly: only forms use it)."""
    flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
    return f"{COOKIE}={value}{flags}".encode()
