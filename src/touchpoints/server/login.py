"""Signing in and out, the language switch, the page a role may not open and the one
whose question ran out of memory.

Kept apart from the dashboard's pages because none of it reads analyses: a visitor meets
these before any number. Every word comes from the catalog (`web.*`) in the reader's
language (the EN/PT switch's cookie, else the browser's Accept-Language).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from touchpoints.analytics.scope import Scope
from touchpoints.core import messages as msg
from touchpoints.server import csrf
from touchpoints.server.pages import (
    LANG_COOKIE,
    NO_STORE,
    Page,
    company_language,
    filter_params,
    language,
    render,
    templates,
    translator,
)
from touchpoints.server.throttle import LoginThrottle
from touchpoints.server.users import (
    COOKIE,
    SESSION_SECONDS,
    authenticate,
    end_sessions,
    optional_user,
    session_epoch,
    session_secret,
    sign_session,
)

router = APIRouter()


def _throttle(request: Request) -> LoginThrottle:
    state = request.app.state
    if not hasattr(state, "login_throttle"):
        state.login_throttle = LoginThrottle()
    return state.login_throttle


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_page(
    request: Request, next: str, error: str | None = None, username: str = "", status: int = 200
) -> HTMLResponse:
    lang = language(request)
    html = (
        templates(lang)
        .get_template("login.html")
        .render(
            t=translator(lang),
            lang=lang,
            next=safe_next(next),
            error=error,
            username=username,
            **csrf.csrf_context(request),
        )
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def safe_next(target: str | None) -> str:
    """Only same-site paths: /login?next=https://evil.example must not redirect away."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form, in the visitor's language before any session exists."""
    return _login_page(request, next)


def forbidden_page(request: Request, exc: Exception) -> Response:
    """403 for a role that may not see a page: an HTML page in the reader's language for a
    browser, the JSON message for the data endpoints and other clients."""
    return _message_page(request, exc, "forbidden.html", 403, filters=())


def out_of_memory_page(request: Request, exc: Exception) -> Response:
    """503 when the page's question needed more memory than the store may use: the store
    is intact and the other pages work, so the reader gets that in one sentence and what
    helps (a shorter period; an administrator can raise the limit), not a bare 500."""
    # The filter bar stays: a shorter period is the reader's own way out.
    return _message_page(request, exc, "out_of_memory.html", 503, limit=getattr(exc, "limit", None))


def _message_page(
    request: Request, exc: Exception, template: str, status: int, **context: Any
) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": str(getattr(exc, "detail", exc))}, status)
    lang = language(request)
    user = optional_user(request)
    if user is None:  # cannot happen behind require_role; kept a page, not a crash
        return RedirectResponse("/login", status_code=303)
    page = Page(request, user, lang, filter_params(request), Scope(), None)
    # The dashboard's frame (navigation for this role, log-out) around the message, so the
    # reader is never left on a dead end.
    return render(page, template, status=status, **context)


@router.post("/login", dependencies=[Depends(csrf.csrf_protect)])
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    """A signed, HttpOnly, SameSite=Lax session cookie and back to `next`; a wrong name or
    password gets the form again (401) with one message for both, so names cannot be probed.
    Repeated failures are throttled per account and per address (429, see `throttle`)."""
    service = request.app.state.service
    throttle, address = _throttle(request), _client(request)
    wait = throttle.wait(username, address)
    t = translator(language(request))
    if wait:
        response = _login_page(
            request, next, t("security.login_throttled", seconds=wait), username, status=429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    user = service.read(authenticate, username, password)
    if user is None:
        throttle.failed(username, address)
        return _login_page(request, next, t("bad_login"), username, status=401)
    throttle.succeeded(username)
    epoch = service.read(session_epoch, user.username)
    csrf.renew(request)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        sign_session(session_secret(service), user.username, epoch=epoch),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", dependencies=[Depends(csrf.csrf_protect)])
def logout(request: Request) -> Response:
    """End the session: the cookie is forgotten and the user's session epoch replaced, so
    a copy of the cookie no longer works either (on every device of this user)."""
    user = optional_user(request)
    if user is not None:
        request.app.state.service.read(end_sessions, user.username)
    csrf.renew(request)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/lang/{code}")
def set_language(code: str, request: Request, next: str = "/") -> Response:
    """The EN/PT switch: remembered for a year, so the choice outlives the session."""
    lang = msg.normalize(code) or company_language(request)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response
