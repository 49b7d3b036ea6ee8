"""Survey routes: `POST /v1/surveys` makes a link (scope `ingest`); `GET|POST /s/{token}`
is the customer's page, in pt-BR or en.

The form posts back to its own signed, single-use URL, which is the credential, and
carries a CSRF token like every form (server/csrf.py): a page elsewhere cannot post an
answer in the name of a customer who opened the link. They are rate limited per client address
(`survey_rate_limit_per_minute`, a sliding window in this process; behind a proxy every
customer shares the proxy's address, so size the limit for it). Answers are stored through
`Service.ingest` like any other event; see touchpoints.ingest.surveys for what is stored.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.ingest import surveys
from touchpoints.ingest.conflicts import CONFLICT_MARK
from touchpoints.server.auth import require_scope
from touchpoints.server.csrf import csrf_context, csrf_protect
from touchpoints.server.pages import company_language

router = APIRouter()

TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
PAGE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


# -- language -------------------------------------------------------------------------------
def choose_language(
    accept_language: str | None, explicit: str | None = None, default: str = msg.DEFAULT_LANG
) -> str:
    """`?lang=` (or the form's hidden field) first, then the best of Accept-Language by
    q-value among pt and en, else `default` (the company's language)."""
    if explicit and (code := msg.normalize(explicit)):
        return code
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        code = msg.normalize(tag)
        if code and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else default


# -- rate limit -----------------------------------------------------------------------------
class SlidingWindow:
    """At most `limit` requests per `window` seconds per key, counted exactly (one
    timestamp per request; memory is bounded by limit × active clients)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 10_000:
                self._forget_idle(now)
            return True

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[key]


def _limiter(request: Request) -> SlidingWindow:
    state = request.app.state
    limiter = getattr(state, "survey_limiter", None)
    if limiter is None:
        limiter = SlidingWindow(state.service.settings.survey_rate_limit_per_minute)
        state.survey_limiter = limiter
    return limiter


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# -- rendering ------------------------------------------------------------------------------
@lru_cache(maxsize=len(msg.LANGS))
def _environment(lang: str) -> Any:
    """The survey templates for one language, with core.format's filters bound to it."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(format.filters(lang))
    return env


def _page(template: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A survey page in `lang`: `t(key)` reads the catalog's `survey.*` words."""

    def t(key: str, **values: object) -> str:
        return msg.t(lang, f"survey.{key}", **values)

    html = _environment(lang).get_template(template).render(lang=lang, t=t, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _message(lang: str, kind: str, status: int) -> HTMLResponse:
    return _page("survey_message.html", lang, status, kind=kind)


def _form(
    request: Request,
    token: str,
    lang: str,
    event: Mapping[str, Any],
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    catalog = request.app.state.service.read(lambda store: store.catalog())
    options = sorted(
        ((t.id, t.label(lang)) for t in catalog.touchpoints if t.is_touchpoint),
        key=lambda o: o[1].casefold(),
    )
    rated = catalog.get(event["touchpoint"])
    rated_name = rated.label(lang) if rated is not None else event["touchpoint"]
    return _page(
        "survey.html",
        lang,
        status,
        **csrf_context(request),
        token=token,
        options=options,
        rated_name=rated_name,
        values=dict(values or {}),
        errors=dict(errors or {}),
        comment_max=surveys.COMMENT_MAX,
    )


# -- routes ---------------------------------------------------------------------------------
class SurveyLinkRequest(BaseModel):
    event_id: str = Field(min_length=1, max_length=512, description="The interaction to rate.")
    ttl_days: int | None = Field(
        None, ge=1, le=3650, description="Days the link stays valid (default: server setting)."
    )


class SurveyLink(BaseModel):
    url: str
    token: str
    expires_at: str


@router.post(
    "/v1/surveys",
    response_model=SurveyLink,
    status_code=201,
    summary="Create a signed, expiring, single-use survey link rating one event",
    responses={
        404: {"description": "No stored event has this event_id."},
        503: {"description": "TOUCHPOINTS_SECRET_KEY is not configured."},
    },
    dependencies=[Depends(require_scope("ingest"))],
    tags=["surveys"],
)
def create_survey_link(body: SurveyLinkRequest, request: Request) -> dict[str, str]:
    service = request.app.state.service
    try:
        return service.read(surveys.create_link, service.settings, body.event_id, body.ttl_days)
    except surveys.NoSecretKey as exc:
        raise HTTPException(503, detail=str(exc)) from None
    except surveys.UnknownEvent as exc:
        raise HTTPException(404, detail=str(exc)) from None


def _gate(request: Request, token: str, lang: str) -> surveys.Claims | HTMLResponse:
    """Rate limit, then the token's signature and expiry: claims or the page to show."""
    if not _limiter(request).allow(_client(request)):
        response = _message(lang, "limited", 429)
        response.headers["Retry-After"] = "60"
        return response
    try:
        return surveys.verify(request.app.state.service.settings.secret_key, token)
    except surveys.NoSecretKey:
        return _message(lang, "unavailable", 503)
    except surveys.SurveyLinkError as exc:
        return _message(lang, "forged" if exc.http_status == 404 else exc.kind, exc.http_status)


@router.get("/s/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_page(token: str, request: Request, lang: str | None = None) -> HTMLResponse:
    language = choose_language(
        request.headers.get("accept-language"), lang, company_language(request)
    )
    claims = _gate(request, token, language)
    if isinstance(claims, HTMLResponse):
        return claims
    try:
        event = request.app.state.service.read(surveys.check_open, claims)
    except surveys.SurveyLinkError as exc:
        return _message(language, "forged" if exc.http_status == 404 else exc.kind, exc.http_status)
    return _form(request, token, language, event)


@router.post(
    "/s/{token}",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[Depends(csrf_protect)],
)
async def survey_answer(token: str, request: Request, lang: str | None = None) -> HTMLResponse:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    language = choose_language(
        request.headers.get("accept-language"),
        values.get("lang") or lang,
        company_language(request),
    )
    claims = _gate(request, token, language)
    if isinstance(claims, HTMLResponse):
        return claims
    return await run_in_threadpool(_answer, request, token, language, claims, values)


def _answer(
    request: Request, token: str, lang: str, claims: surveys.Claims, values: Mapping[str, str]
) -> HTMLResponse:
    """Validate and store under the service lock: check open, ingest, mark used. The
    event_id derived from the token makes a concurrent second submit (another worker on
    PostgreSQL) a duplicate, answered as "already answered"."""
    service = request.app.state.service
    with service.lock:
        try:
            event = surveys.check_open(service.store, claims)
        except surveys.SurveyLinkError as exc:
            kind = "forged" if exc.http_status == 404 else exc.kind
            return _message(lang, kind, exc.http_status)
        answers, errors = surveys.parse_answers(values, service.store.catalog(), lang)
        if errors:
            return _form(request, token, lang, event, values, errors, status=422)
        records = surveys.feedback_records(claims, event, answers)
        result = service.ingest(records, "survey")
        # Another answer already stored under the token's event_id is a conflict (kept in
        # quarantine with both answers): for the person, the link was already answered.
        statuses = {
            "duplicate" if CONFLICT_MARK in str(item.get("reason", "")) else item["status"]
            for item in result.items
        }
        if "rejected" in statuses:
            # The rated touchpoint left the catalog since: kept in quarantine, link unused.
            return _message(lang, "failed", 500)
        surveys.mark_used(service.store, claims)
    if statuses == {"duplicate"}:
        return _message(lang, "used", 410)
    return _message(lang, "thanks", 200)
