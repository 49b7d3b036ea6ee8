"""What every dashboard page shares: who is reading, in which language, with which filters,
and the Jinja environment that writes numbers and words for that reader.

Words come from the message catalog (`touchpoints.core.messages`): a template asks for a
bare key (`t("map")`, the dashboard's own `web.map`) or a namespaced one
(`t("metric.tme_seconds")`, `t("common.before")`). Numbers go through `core.format` as
Jinja filters bound to the page's language (`{{ x | pct }}`, `{{ x | dur }}`,
`{{ x | metric("tme_seconds") }}`), so a Brazilian reads 5.410.019 and 26,3% where an
English reader reads 5,410,019 and 26.3%, and a wait is written one way on every page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from touchpoints.analytics import registry
from touchpoints.analytics.scope import Scope
from touchpoints.core import format
from touchpoints.core import messages as msg
from touchpoints.core.errors import TouchpointsError
from touchpoints.core.events import PHASES
from touchpoints.core.grammar import Noun
from touchpoints.server.cache import Job, page_entry
from touchpoints.server.csrf import csrf_context
from touchpoints.server.users import User, require_role

WEB = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB / "static"
LANG_COOKIE = "tp_lang"
FILTER_KEYS = ("from", "to", "phase", "channel", "kind", "segment")
KINDS = ("static", "interactive", "human")

# Pages show customers' comments and names: never kept by a browser or proxy cache.
NO_STORE = {"Cache-Control": "no-store"}

ALL = ("admin", "analyst", "supervisor")
ANALYSTS = ("admin", "analyst")

Translate = Callable[..., str]


@lru_cache(maxsize=4 * len(msg.LANGS))
def templates(lang: str, currency: str = format.CURRENCY, timezone: str = "UTC") -> Environment:
    """The dashboard's templates for one language and the company's currency and time
    zone: its filters format for that reader, so no template passes a language, a
    currency or a zone to a filter (and none can forget to)."""
    env = Environment(
        loader=FileSystemLoader(str(WEB / "templates")),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(format.filters(lang, currency, timezone))
    env.filters["tojson_safe"] = lambda v: json.dumps(v, ensure_ascii=False).replace("</", "<\\/")
    return env


def translator(lang: str) -> Translate:
    """`t(key, **values)` for templates: a bare key is the dashboard's (`web.<key>`)."""

    def t(key: str, **values: object) -> str:
        return msg.t(lang, key if "." in key else f"web.{key}", **values)

    return t


def code_word(lang: str, kind: str, code: str | None) -> str:
    """A code of the data or catalog (a channel, a segment, an owner) in the reader's
    words when the message catalog names it (`pages.<kind>_<code>`), else as it is."""
    return format.code(kind, code, lang)


def series(
    lang: str, name: str, values: Sequence[Any], key: str | Callable[[Any], str]
) -> dict[str, Any]:
    """A chart series with each value also written for the reader (`labels`), formatted
    by what the column `key` measures (or by `key` itself when it is a function):
    charts.js shows these on bars and in tooltips, so a wait reads "1 min 30 s" and a
    share "26,3%" on the chart as in the table below it."""
    show = key if callable(key) else lambda v: format.value(key, v, lang)
    return {"name": name, "values": list(values), "labels": [show(v) for v in values]}


# Scope attributes of each ScopeOptions field an analysis may or may not take.
SCOPE_ATTRIBUTES = {
    "date_from": ("date_from",),
    "date_to": ("date_to",),
    "touchpoint": ("touchpoints",),
    "channel": ("channels",),
    "kind": ("kinds",),
    "phase": ("phases",),
    "segment": ("segments",),
    "agent": ("agents",),
    "during": ("during_seconds",),
    "after": ("after_seconds",),
    "gap": ("gap_seconds",),
    "timezone": ("timezone",),
}
_DEFAULT_SCOPE = Scope()


def narrow(scope: Scope, analysis: registry.Analysis) -> Scope:
    """The part of the page's scope the analysis declares it takes: a filter it does not
    offer on the command line or the API (staffing has no segment) is not applied on a
    page either, so a page's number is the one `touchpoints <analysis>` prints."""
    unused = {
        attr: getattr(_DEFAULT_SCOPE, attr)
        for option, attrs in SCOPE_ATTRIBUTES.items()
        if option not in analysis.scope
        for attr in attrs
    }
    return scope.replace(**unused) if unused else scope


def job(name: str, scope: Scope, **options: Any) -> Job:
    """One analysis of the registry as a cache job: (function, arguments, keywords).
    A bad option value is a UsageError naming the option (a 400 on `/data`)."""
    analysis = registry.get(name)
    try:
        values = analysis.options.model_validate(options)
    except ValidationError as exc:
        raise registry.usage_error(exc) from None
    return (analysis.run, (narrow(scope, analysis), values), {})


def catalog(store: Any) -> Any:
    """The catalog, as a cache job (it changes only with a catalog edit, which bumps)."""
    return store.catalog()


# -- request context -------------------------------------------------------------------------
@dataclass
class Page:
    """What every page needs: who, in which language, with which filters."""

    request: Request
    user: User
    lang: str
    params: dict[str, str]
    scope: Scope
    filter_error: str | None
    # When the oldest result this page shows began computing (time.time()): the data it
    # reflects were read then or later. `updating`: some result predates the store's
    # current data (stale-while-revalidate while the warmer recomputes it).
    as_of: float | None = field(default=None)
    updating: bool = field(default=False)
    # The store's part of the data version as this page first read it (`page_entry`).
    stored_version: tuple[int, int] | None = field(default=None)

    @property
    def service(self) -> Any:
        return self.request.app.state.service

    @property
    def timezone(self) -> str:
        """The company's time zone (settings): days, weeks and hours are cut in it."""
        return str(self.service.settings.timezone)

    @property
    def currency(self) -> str:
        return str(self.service.settings.currency)

    def t(self, key: str, **values: object) -> str:
        return translator(self.lang)(key, **values)

    def label(self, key: str) -> str:
        """The label of the result column `key` (`metric.<key>`) as it opens a header or a
        chart legend: 'Nível de serviço', 'TME'."""
        return msg.capitalized(self.t(f"metric.{key}"))

    def fmt(self, key: str, value: Any) -> str:
        """`value` written for this reader by what the column `key` measures."""
        return format.value(key, value, self.lang, self.currency)

    def local(self, value: Any, seconds: bool = False) -> str:
        """A stored UTC time as the company's wall time, for this reader."""
        return format.datetime(format.local(value, self.timezone), self.lang, seconds)

    def query(self, **extra: str) -> str:
        """The current filters (plus `extra`) as a query string, to keep them across pages."""
        kept = {k: v for k, v in self.params.items() if v} | {k: v for k, v in extra.items() if v}
        return ("?" + urlencode(kept)) if kept else ""

    def run(self, name: str, scope: Scope | None = None, **options: Any) -> Any:
        """An analysis of the registry over the page's scope (or `scope`), cached."""
        fn, args, _ = job(name, scope or self.scope, **options)
        return self.get(fn, *args)

    def names(self) -> dict[str, str]:
        """Touchpoint id -> its name in the reader's language."""
        return {tp.id: tp.label(self.lang) for tp in self.get(catalog).touchpoints}

    def noun(self, tp_id: str) -> Noun:
        """A touchpoint's name for a generated sentence (agreement in pt-BR)."""
        entry = self.get(catalog).get(tp_id)
        return entry.noun(self.lang) if entry else Noun(tp_id, self.lang)

    def get(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        entry, current, self.stored_version = page_entry(
            self.service, self.stored_version, fn, args, kwargs
        )
        began = entry.computed_at - entry.cost
        self.as_of = began if self.as_of is None else min(self.as_of, began)
        self.updating = self.updating or not current
        return entry.result

    def as_of_time(self) -> str:
        """`as_of` as the company's wall time to the second (for the "updating" note)."""
        moment = datetime.fromtimestamp(self.as_of or time.time(), UTC).replace(tzinfo=None)
        return self.local(moment, seconds=True)


def company_language(request: Request) -> str:
    """The company's `locale` setting: the language of a reader who has chosen none."""
    service = getattr(request.app.state, "service", None)
    locale = service.settings.locale if service is not None else None
    return msg.normalize(locale) or msg.DEFAULT_LANG


def language(request: Request) -> str:
    """The language chosen with the EN/PT switch (a cookie), else the browser's when it
    names English or Portuguese, else the company's (`TOUCHPOINTS_LOCALE`)."""
    return msg.normalize(request.cookies.get(LANG_COOKIE)) or msg.from_accept_language(
        request.headers.get("accept-language"), company_language(request)
    )


def filter_params(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in FILTER_KEYS}


def build_scope(params: dict[str, str], timezone: str = "UTC") -> tuple[Scope, str | None]:
    """The filter bar's values as the analyses' scope, days read and cut in the company's
    `timezone`; a bad value is reported on the page (and the page shown unfiltered)
    rather than failing it."""
    try:
        return (
            Scope.build(
                params["from"] or None,
                params["to"] or None,
                None,
                params["channel"] or None,
                params["kind"] or None,
                params["phase"] or None,
                params["segment"] or None,
                timezone=timezone,
            ),
            None,
        )
    except TouchpointsError as exc:
        return Scope(timezone=timezone), str(exc)


def exact_times(page: Page) -> dict[str, str]:
    """The filter bar's `from`/`to` that name a moment rather than a day (the Live page's
    minutes link to the Events page with such), as the company's wall time to the second.
    A date input cannot show a moment, so the bar shows this text and carries the value
    unchanged; bare dates are left to the date inputs."""
    if page.filter_error:
        return {}
    out = {}
    for key, moment in (("from", page.scope.date_from), ("to", page.scope.date_to)):
        text = page.params.get(key, "")
        if moment is None or not text or _is_day(text):
            continue
        out[key] = page.local(moment, seconds=True)
    return out


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def page_context(*roles: str) -> Any:
    """A FastAPI dependency: the Page of a signed-in user whose role may open it."""
    guard = require_role(*roles)

    def dependency(request: Request, user: User = Depends(guard)) -> Page:
        params = filter_params(request)
        scope, error = build_scope(params, str(request.app.state.service.settings.timezone))
        return Page(request, user, language(request), params, scope, error)

    return dependency


def nav(page: Page) -> list[dict[str, Any]]:
    """The pages this user's role may open, each link keeping the current filters."""
    items = [
        ("/", "overview", ALL),
        ("/map", "map", ANALYSTS),
        ("/journeys", "journeys", ANALYSTS),
        ("/service", "service", ALL),
        ("/team", "web.drill.team", ALL),
        ("/feedback", "feedback", ALL),
        ("/attribution", "attribution", ANALYSTS),
        ("/live", "live", ALL),
        ("/attendant", "attendant.page", ALL),
        ("/changes", "changes.nav", ALL),
        ("/catalog", "catalog", ALL),
        ("/customers", "web.drill.customers", ALL),
    ]
    here = page.request.url.path
    return [
        {"href": href + page.query(), "label": page.t(key), "current": here == href}
        for href, key, roles in items
        if page.user.can(*roles)
    ]


def render(
    page: Page,
    template: str,
    status: int = 200,
    filters: Sequence[str] = FILTER_KEYS,
    **values: Any,
) -> HTMLResponse:
    """`template` in the frame every page shares (base.html): navigation for the user's
    role, the filter bar (channels from the catalog, segments from the data, through the
    `summary` analysis over the whole store) and how recent the data is: "data up to" the
    newest stored event, in the company's local time (not when a result was computed,
    which reads as "today" for data that ended long ago).

    `filters` are the ones the page's numbers follow (the live queue only a channel, the
    catalog none): a filter the page would ignore is not offered."""
    from touchpoints.server.dashboard.changes import change_markers

    for spec in values.values():  # every time chart marks the days changes took effect
        if isinstance(spec, dict):
            change_markers(page, spec)
    touchpoints = page.get(catalog).touchpoints
    whole = page.run("summary", Scope(timezone=page.timezone))
    seen = whole["segments"]
    newest = whole["last_event"]
    html = (
        templates(page.lang, page.currency, page.timezone)
        .get_template(template)
        .render(
            page=page,
            t=page.t,
            lang=page.lang,
            user=page.user,
            params=page.params,
            filter_error=page.filter_error,
            nav=nav(page),
            channel_options=sorted({tp.channel for tp in touchpoints if tp.is_touchpoint}),
            tp_names={tp.id: tp.label(page.lang) for tp in touchpoints},
            word=lambda kind, code: code_word(page.lang, kind, code),
            kinds=KINDS,
            phases=PHASES,
            segments=sorted(s["segment"] for s in seen),
            shown_filters=filters,
            active_filters=sum(1 for k in filters if page.params.get(k)),
            path=page.request.url.path,
            data_up_to=page.local(newest) if newest else None,
            exact=exact_times(page),
            **csrf_context(page.request),
            **values,
        )
    )
    if page.filter_error and status == 200:
        status = 400  # the page is shown unfiltered, with the reason; the client hears it
    return HTMLResponse(html, status_code=status, headers=NO_STORE)
