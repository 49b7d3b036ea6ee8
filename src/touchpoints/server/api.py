"""`/v1/*`: event ingestion and the analyses, each answering exactly the CLI's `--json`.

Query parameters are named like the CLI options (`from`, `to`, `by`, `answer_within`,
...); list options repeat (`?touchpoint=phone&touchpoint=chat`) or take commas, as the
CLI does. Every analysis route is generated from the registry of analyses
(`touchpoints.analytics.registry`), like the CLI commands.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field, create_model
from starlette.concurrency import run_in_threadpool

from touchpoints.analytics.registry import Analysis, Options, analyses
from touchpoints.core.errors import CatalogError
from touchpoints.ingest import LazyRecords, loads_strict
from touchpoints.server import cache
from touchpoints.server.auth import ApiKey, require_scope
from touchpoints.server.service import Service

router = APIRouter(prefix="/v1")

INGEST = Depends(require_scope("ingest"))
READ = Depends(require_scope("read"))
ADMIN = Depends(require_scope("admin"))
JSON_TYPES = ("application/json", "application/x-ndjson")
_DECODER = json.JSONDecoder()
_SPACE = " \t\r\n"


class Problem(BaseModel):
    """Every 4xx answer of this API: one human-readable sentence."""

    detail: str


class Item(BaseModel):
    index: int
    status: str = Field(pattern="^(stored|duplicate|rejected)$")
    reason: str | None = None
    event_id: str | None = None


class IngestAnswer(BaseModel):
    """SPEC §6: counts plus one item per posted event, in order."""

    stored: int
    duplicates: int
    rejected: int
    items: list[Item]


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "Bad request (broken JSON, bad option value)."},
    401: {"model": Problem, "description": "Missing, unknown or revoked API key."},
    403: {"model": Problem, "description": "The API key lacks the route's scope."},
}


class BodyTooLarge(Exception):
    """Raised while a body is read past `max_body_bytes` (the app answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than the limit of {limit:,} bytes")


def json_response(obj: Any, status: int = 200) -> Response:
    """Encode once, compactly (no response-model re-validation of 10,000 items)."""
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(body.encode("utf-8"), status_code=status, media_type="application/json")


def service_of(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _bad_json(text: str, exc: json.JSONDecodeError, line_offset: int = 0) -> HTTPException:
    return HTTPException(
        400,
        detail=f"broken JSON at line {exc.lineno + line_offset}, column {exc.colno}: {exc.msg}",
    )


def split_array(text: str) -> list[bytes]:
    """Each element of a JSON array as its own one-line JSON text (checked, not rebuilt).

    `raw_decode` validates every element and says where it ends, so the original text is
    passed on unchanged (newlines between tokens become spaces; inside strings they are
    always escaped), sparing a decode/encode round trip per event.
    """
    items: list[bytes] = []
    pos = text.index("[") + 1
    n = len(text)
    while pos < n and text[pos] in _SPACE:
        pos += 1
    if pos < n and text[pos] == "]":
        pos += 1
    else:
        while True:
            try:
                _, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                raise _bad_json(text, exc) from None
            items.append(text[pos:end].replace("\n", " ").replace("\r", " ").encode("utf-8"))
            pos = end
            while pos < n and text[pos] in _SPACE:
                pos += 1
            if pos < n and text[pos] == ",":
                pos += 1
                while pos < n and text[pos] in _SPACE:
                    pos += 1
                continue
            if pos < n and text[pos] == "]":
                pos += 1
                break
            raise _bad_json(
                text, json.JSONDecodeError("expected ',' or ']' after an array element", text, pos)
            )
    while pos < n and text[pos] in _SPACE:
        pos += 1
    if pos < n:
        raise _bad_json(text, json.JSONDecodeError("extra data after the array", text, pos))
    return items


def split_lines(text: str) -> list[bytes]:
    """JSON Lines: every non-blank line must be one JSON value (checked all at once)."""
    lines = [line for line in text.split("\n") if line.strip(_SPACE)]
    try:
        # One C-level parse of the whole batch; a failure is located line by line below.
        json.loads("[" + ",".join(lines) + "]")
    except json.JSONDecodeError:
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip(_SPACE):
                continue
            try:
                json.loads(line)
            except json.JSONDecodeError as exc:
                raise HTTPException(
                    400,
                    detail=f"broken JSON at line {number}, column {exc.colno}: {exc.msg}",
                ) from None
        raise HTTPException(400, detail="broken JSON Lines body") from None
    return [line.rstrip("\r").encode("utf-8") for line in lines]


def parse_events(body: bytes, content_type: str, max_events: int) -> list[bytes]:
    """Body → one JSON text per event; 400/413/415 with a clear message otherwise."""
    return parse_body(body, content_type, max_events)[0]


TOO_DEEP = "JSON nested too deeply to read (events are flat objects)"


def parse_body(
    body: bytes, content_type: str, max_events: int
) -> tuple[Sequence[bytes], list[Any] | None]:
    """As `_parse_body`; JSON nested deeper than the parser's recursion limit (a body of
    100,000 `[`) is a 400, not a crash."""
    try:
        return _parse_body(body, content_type, max_events)
    except RecursionError:
        raise HTTPException(400, detail=TOO_DEEP) from None


def _parse_body(
    body: bytes, content_type: str, max_events: int
) -> tuple[Sequence[bytes], list[Any] | None]:
    """Body → (one JSON text per event, the parsed events or None); 400/413/415 with a
    clear message otherwise.

    A JSON array is parsed once, in C; the per-event texts (a Python loop of ~20 µs per
    event) are only cut out if the store has to stage the batch (see `ingest_records`).
    """
    media = content_type.split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise HTTPException(
            415,
            detail=f"unsupported Content-Type {media or '(none)'!r}: send application/json "
            "(a JSON array or JSON Lines) or application/x-ndjson",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, detail=f"body is not UTF-8 (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip(_SPACE)
    if not stripped:
        raise HTTPException(400, detail="empty body: send a JSON array or JSON Lines of events")
    # The whole text is parsed (not the stripped one) so errors name the client's lines.
    values = loads_strict(text) if stripped.startswith("[") else None
    items: Sequence[bytes]
    if isinstance(values, list):
        items = LazyRecords(len(values), lambda: split_array(text))  # type: ignore[arg-type]
    else:
        values = None
        items = split_array(text) if stripped.startswith("[") else split_lines(text)
    if len(items) > max_events:
        raise HTTPException(
            413,
            detail=f"{len(items):,} events in one request; the limit is {max_events:,} "
            "(split the batch)",
        )
    return items, values


EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "maxItems": 10_000,
                    "items": {"type": "object", "additionalProperties": True},
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/events",
    response_model=IngestAnswer,
    openapi_extra=EVENTS_BODY,
    responses={
        **ERRORS,
        413: {"model": Problem, "description": "Body or batch over the limit."},
        415: {"model": Problem, "description": "Not JSON or JSON Lines."},
    },
    summary="Store events (SPEC §2) from a JSON array or JSON Lines",
)
async def post_events(request: Request, key: Annotated[ApiKey, INGEST]) -> Response:
    """Answers after the stored events are committed; idempotent on `event_id`."""
    service = service_of(request)
    settings = service.settings
    body = await read_body(request, settings.max_body_bytes)
    items, values = parse_body(
        body, request.headers.get("content-type", ""), settings.max_batch_events
    )
    result = await service.ingest_async(items, "api", values=values)
    request.app.state.metrics.count_events("api", result.stored, result.duplicates, result.rejected)
    return json_response(result.to_json())


# -- analyses ----------------------------------------------------------------------------
def _query_model(analysis: Analysis) -> type[BaseModel]:
    """The query parameters of one analysis: its scope fields and options, named like the
    CLI options (`from`, `to`, `by`, `answer_within`, ...), lists repeated or comma-separated."""
    fields = {
        name: (field.annotation, field)
        for name, field in analysis.option_fields().items()
        if name not in analysis.arguments
    }
    title = "".join(w.title() for w in analysis.words) + "Query"
    return create_model(title, __base__=Options, **fields)  # type: ignore[call-overload,no-any-return]


def _analysis_route(analysis: Analysis) -> None:
    """GET route of one analysis: parses its parameters like the CLI does and answers the
    CLI's `--json` object; the response schema is the analysis's declared result."""
    query_model = _query_model(analysis)

    def endpoint(request: Request, **params: Any) -> Response:
        query = params.pop("query")
        params.pop("key")  # the auth dependency's answer: checked, not an option
        values = {**query.model_dump(exclude_unset=True), **params}
        scope, options = analysis.parse(values)
        if not analysis.uses_store(options):
            # Answers without data: no lock, no waiting behind an ingestion.
            return json_response(analysis.run(None, scope, options))  # type: ignore[arg-type]
        # On a reader, beside ingestion (see `cache.current`).
        return json_response(cache.current(service_of(request), analysis.run, scope, options))

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter("request", keyword, annotation=Request),
        inspect.Parameter("key", keyword, annotation=Annotated[ApiKey, READ]),
        *(
            inspect.Parameter(
                name,
                keyword,
                annotation=Annotated[str, Path(description=field.description)],
            )
            for name, field in analysis.option_fields().items()
            if name in analysis.arguments
        ),
        inspect.Parameter("query", keyword, annotation=Annotated[query_model, Query()]),
    ]
    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = "get_" + analysis.name.replace(".", "_")
    router.add_api_route(
        analysis.http_path.removeprefix(router.prefix),
        endpoint,
        methods=["GET"],
        summary=analysis.summary,
        description=f"{analysis.description}\n\nThe body is `touchpoints {' '.join(analysis.words)} --json`.",
        responses={
            200: {"model": analysis.result, "description": "The analysis's JSON object."},
            **ERRORS,
            # What a path names may not exist: an unknown customer id (NotFoundError).
            **(
                {404: {"model": Problem, "description": "No such customer (or other named thing)."}}
                if analysis.arguments
                else {}
            ),
        },
        response_class=Response,
        tags=["analyses"],
    )


for _analysis in analyses():
    _analysis_route(_analysis)


# -- catalog -----------------------------------------------------------------------------
@router.get("/catalog", responses=ERRORS, summary="The stored catalog (as `catalog show --json`)")
def get_catalog(request: Request, key: Annotated[ApiKey, READ]) -> Response:
    catalog = service_of(request).read(lambda store: store.catalog())
    return json_response(catalog.model_dump(exclude_defaults=False))


CATALOG_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}


@router.put(
    "/catalog",
    openapi_extra=CATALOG_BODY,
    responses={
        **ERRORS,
        413: {"model": Problem, "description": "Body over the limit."},
        422: {"model": Problem, "description": "Invalid catalog (names the entry and field)."},
    },
    summary="Replace the catalog (YAML or JSON body)",
)
async def put_catalog(request: Request, key: Annotated[ApiKey, ADMIN]) -> Response:
    """Validated like `touchpoints catalog load`; events already stored are kept. The body
    is bounded by `catalog_max_bytes` and parsed in a worker thread: YAML parsing is slow
    and must not hold the event loop (and /healthz) while it runs."""
    from touchpoints.core.catalog import parse_catalog
    from touchpoints.server.cache import bump

    service = service_of(request)
    limit = min(service.settings.max_body_bytes, service.settings.catalog_max_bytes)
    body = await read_body(request, limit)

    def parse() -> Any:
        return parse_catalog(body.decode("utf-8", errors="replace"), "catalog")

    try:
        catalog = await run_in_threadpool(parse)
    except CatalogError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    await run_in_threadpool(service.read, lambda store: store.set_catalog(catalog))
    bump(service)
    return json_response(catalog.model_dump(exclude_defaults=False))


# -- keys (admin) --------------------------------------------------------------------------
class NewKey(BaseModel):
    scopes: list[str] = Field(min_length=1, examples=[["ingest"]])
    name: str | None = Field(None, max_length=200)


class CreatedKey(BaseModel):
    id: str
    key: str
    scopes: list[str]


@router.get("/keys", responses=ERRORS, summary="API keys (never the keys themselves)")
def get_keys(request: Request, key: Annotated[ApiKey, ADMIN]) -> Response:
    from touchpoints.server.auth import list_keys

    return json_response({"keys": service_of(request).read(list_keys)})


@router.post(
    "/keys",
    response_model=CreatedKey,
    responses=ERRORS,
    summary="Create a key (shown once); as `touchpoints keys create --json`",
)
def post_key(request: Request, body: NewKey, key: Annotated[ApiKey, ADMIN]) -> Response:
    """While the server holds a DuckDB file, the `keys` commands cannot open it: use this."""
    from touchpoints.server.auth import create_key, normalise_scopes

    scopes = normalise_scopes(body.scopes)
    key_id, secret = service_of(request).read(create_key, scopes, body.name)
    return json_response({"id": key_id, "key": secret, "scopes": scopes}, 201)


@router.delete("/keys/{key_id}", responses=ERRORS, summary="Revoke a key, effective at once")
def delete_key(request: Request, key_id: str, key: Annotated[ApiKey, ADMIN]) -> Response:
    from touchpoints.server.auth import revoke_key

    service_of(request).read(revoke_key, key_id)
    return json_response({"id": key_id, "revoked": True})


# -- the change log ----------------------------------------------------------------------------
class NewChange(BaseModel):
    date: str = Field(description="Day the change took effect.", examples=["2026-07-27"])
    title: str = Field(max_length=200, examples=["WhatsApp bot answers FAQs"])
    touchpoint: str | None = Field(None, description="The touchpoint changed (a catalog id).")


class LoggedChange(BaseModel):
    id: int
    date: str
    title: str
    touchpoint: str | None


@router.post(
    "/changes",
    response_model=LoggedChange,
    status_code=201,
    responses=ERRORS,
    summary="Log a change (as `touchpoints changes add --json`); scope ingest or admin",
)
def post_change(request: Request, body: NewChange, key: Annotated[ApiKey, INGEST]) -> Response:
    """Writes to the change log, like events: the `ingest` scope (or `admin`)."""
    from touchpoints.ingest.changes import add_change
    from touchpoints.server.cache import bump

    service = service_of(request)
    change = service.read(add_change, body.date, body.title, body.touchpoint)
    bump(service)  # pages that show changes (markers, the Changes page, effects) refresh
    return json_response(change, 201)
