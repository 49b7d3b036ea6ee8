"""Signing in and out, the language switch, and the page a role may not open.

Kept apart from the dashboard's pages because none of it reads analyses: a visitor meets
these before any number. Every word comes from the catalog (`web.*`) in the reader's
language (the EN/PT switch's cookie, else the browser's Accept-Language).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from touchpoints.analytics.scope import Scope
from touchpoints.core import messages as msg
from touchpoints.server.pages import (
    LANG_COOKIE,
    Page,
    filter_params,
    language,
    render,
    templates,
    translator,
)
from touchpoints.server.users import (
    COOKIE,
    SESSION_SECONDS,
    authenticate,
    optional_user,
    session_secret,
    sign_session,
)

router = APIRouter()


def safe_next(target: str | None) -> str:
    """Only same-site paths: /login?next=https://evil.example must not redirect away."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    """The sign-in form, in the visitor's language before any session exists."""
    lang = language(request)
    html = (
        templates(lang)
        .get_template("login.html")
        .render(t=translator(lang), lang=lang, next=safe_next(next), error=None)
    )
    return HTMLResponse(html)


def forbidden_page(request: Request, exc: Exception) -> Response:
    """403 for a role that may not see a page: an HTML page in the reader's language for a
    browser, the JSON message for the data endpoints and other clients."""
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": str(getattr(exc, "detail", exc))}, 403)
    lang = language(request)
    user = optional_user(request)
    if user is None:  # cannot happen behind require_role; kept a page, not a crash
        return RedirectResponse("/login", status_code=303)
    page = Page(request, user, lang, filter_params(request), Scope(), None)
    # The dashboard's frame (navigation for this role, log-out) around the message, so the
    # reader is never left on a dead end.
    return render(page, "forbidden.html", status=403, filters=())


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    """A signed, HttpOnly, SameSite=Lax session cookie and back to `next`; a wrong name or
    password gets the form again (401) with one message for both, so names cannot be probed."""
    service = request.app.state.service
    user = service.read(authenticate, username, password)
    if user is None:
        lang = language(request)
        t = translator(lang)
        html = (
            templates(lang)
            .get_template("login.html")
            .render(t=t, lang=lang, next=safe_next(next), error=t("bad_login"), username=username)
        )
        return HTMLResponse(html, status_code=401)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        sign_session(session_secret(service), user.username),
        max_age=SESSION_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    """Forget the session cookie (sessions are stateless: nothing to revoke server-side)."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/lang/{code}")
def set_language(code: str, request: Request, next: str = "/") -> Response:
    """The EN/PT switch: remembered for a year, so the choice outlives the session."""
    lang = msg.normalize(code) or msg.DEFAULT_LANG
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response
