"""The catalog page (`/catalog`): every role reads it; an admin edits its YAML in place, and
an invalid catalog is refused with the validator's message, nothing changed."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse

from touchpoints.core.catalog import parse_catalog
from touchpoints.core.errors import TouchpointsError, UsageError
from touchpoints.server.cache import bump
from touchpoints.server.csrf import csrf_protect
from touchpoints.server.pages import ALL, Page, catalog, page_context, render

router = APIRouter()


@router.get("/catalog", response_class=HTMLResponse)
def catalog_page(page: Page = Depends(page_context(*ALL))) -> HTMLResponse:
    current = page.get(catalog)
    return render(
        page,
        "catalog.html",
        filters=(),
        catalog=current,
        yaml_text=current.to_yaml(),
        message=None,
        request_saved=page.request.query_params.get("saved") == "1",
    )


@router.post("/catalog", response_class=HTMLResponse, dependencies=[Depends(csrf_protect)])
def catalog_save(
    yaml_text: str = Form(""),
    page: Page = Depends(page_context("admin")),
) -> HTMLResponse:
    service = page.service
    try:
        limit = service.settings.catalog_max_bytes
        if len(yaml_text.encode("utf-8")) > limit:
            raise UsageError(f"the catalog is larger than the limit of {limit:,} bytes")
        edited = parse_catalog(yaml_text, "catalog form")
        service.read(lambda store: store.set_catalog(edited))
    except TouchpointsError as exc:
        return render(
            page,
            "catalog.html",
            status=400,
            filters=(),
            catalog=page.get(catalog),
            yaml_text=yaml_text,
            message={"error": True, "text": str(exc)},
        )
    # Every cached result may name touchpoints, channels or kinds: forget them all.
    bump(service)
    return render(
        page,
        "catalog.html",
        filters=(),
        catalog=edited,
        yaml_text=edited.to_yaml(),
        message={"error": False, "text": page.t("saved")},
    )
