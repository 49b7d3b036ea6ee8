"""Editing the catalog as a form (admins): add a touchpoint, edit one, or retire one, each
field checked by the catalog's own validator with its message beside the field, nothing
saved until the whole catalog is valid. The YAML editor and `touchpoints catalog` import
and export stay as they are; this is the same catalog, one entry at a time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from touchpoints.core.catalog import TARGET_KEYS, Catalog, Touchpoint
from touchpoints.core.errors import TouchpointsError
from touchpoints.core.events import PHASES
from touchpoints.server.cache import bump
from touchpoints.server.csrf import csrf_protect
from touchpoints.server.pages import KINDS, Page, catalog, page_context, render

router = APIRouter()
VISIBILITIES = ("both", "company", "customer")


def typed(value: float, lang: str) -> str:
    """A target as the reader types it: '0,8' in pt-BR, '0.8' in English (either is read
    back); never '60.0'."""
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "pt-BR" else text


def fields_of(tp: Touchpoint | None, lang: str = "en") -> dict[str, Any]:
    """The form's values for an entry (empty for a new one)."""
    if tp is None:
        return {"id": "", "name_en": "", "name_pt": "", "channel": "", "kind": "human",
                "visibility": "both", "phase": [], "owner": "", "target": {},
                "gender": "m", "plural": False}  # fmt: skip
    names = tp.name if isinstance(tp.name, dict) else {"en": tp.name}
    return {
        "id": tp.id,
        "name_en": names.get("en", ""),
        "name_pt": names.get("pt-BR", ""),
        "channel": tp.channel,
        "kind": tp.kind,
        "visibility": tp.visibility,
        "phase": list(tp.phase),
        "owner": tp.owner or "",
        "target": {k: typed(v, lang) for k, v in tp.target.items()},
        "gender": tp.gender,
        "plural": tp.plural,
    }


async def posted(request: Request) -> dict[str, Any]:
    form = await request.form()
    return {
        "id": str(form.get("id", "")).strip(),
        "name_en": str(form.get("name_en", "")).strip(),
        "name_pt": str(form.get("name_pt", "")).strip(),
        "channel": str(form.get("channel", "")).strip(),
        "kind": str(form.get("kind", "")),
        "visibility": str(form.get("visibility", "")),
        "phase": [str(p) for p in form.getlist("phase")],
        "owner": str(form.get("owner", "")).strip(),
        "target": {k: str(form.get(f"target_{k}", "")).strip() for k in TARGET_KEYS},
        "gender": str(form.get("gender", "m")),
        "plural": form.get("plural") == "1",
        "retire": form.get("retire") == "1",
    }


def build(values: dict[str, Any]) -> tuple[Touchpoint | None, dict[str, str]]:
    """The entry the form describes, or the catalog validator's message per field."""
    errors: dict[str, str] = {}
    target: dict[str, float] = {}
    for key, text in values["target"].items():
        if not text:
            continue
        try:
            target[key] = float(text.replace(",", "."))
        except ValueError:
            errors[f"target_{key}"] = f"{text!r}: not a number"
    name = {k: v for k, v in (("en", values["name_en"]), ("pt-BR", values["name_pt"])) if v}
    raw = {
        "id": values["id"],
        "name": name,
        "channel": values["channel"],
        "kind": values["kind"],
        "visibility": values["visibility"],
        "phase": values["phase"],
        "owner": values["owner"] or None,
        "target": target,
        "gender": values["gender"],
        "plural": values["plural"],
    }
    try:
        tp = Touchpoint.model_validate(raw)
    except ValidationError as exc:
        for e in exc.errors():
            where = str(e["loc"][0]) if e["loc"] else "id"
            if where == "target":
                bad = next((k for k in TARGET_KEYS if repr(k) in e["msg"]), None)
                where = f"target_{bad}" if bad else "target"
            if where == "name":
                where = "name_en"
            errors.setdefault(where, e["msg"].removeprefix("Value error, "))
        return None, errors
    return (None, errors) if errors else (tp, errors)


def show(page: Page, values: dict[str, Any], errors: dict[str, str], new: bool,
         status: int = 200, message: str | None = None) -> HTMLResponse:  # fmt: skip
    return render(
        page,
        "catalog_form.html",
        status=status,
        filters=(),
        values=values,
        errors=errors,
        new=new,
        kinds_=KINDS,
        phases_=PHASES,
        visibilities=VISIBILITIES,
        target_keys=TARGET_KEYS,
        message=message,
    )


@router.get("/catalog/touchpoints/new", response_class=HTMLResponse)
def new_form(page: Page = Depends(page_context("admin"))) -> HTMLResponse:
    return show(page, fields_of(None), {}, new=True)


@router.get("/catalog/touchpoints/{tp_id}", response_class=HTMLResponse)
def edit_form(tp_id: str, page: Page = Depends(page_context("admin"))) -> HTMLResponse:
    entry = page.get(catalog).get(tp_id)
    if entry is None:
        raise HTTPException(404, f"no touchpoint {tp_id!r} in the catalog")
    return show(page, fields_of(entry, page.lang), {}, new=False)


@router.post("/catalog/touchpoints", response_model=None, dependencies=[Depends(csrf_protect)])
async def save(request: Request, page: Page = Depends(page_context("admin"))) -> Response:
    """Add (no `original`), edit (`original` = the id edited) or retire (`retire=1`)."""
    values = await posted(request)
    original = str((await request.form()).get("original", "")).strip()
    current: Catalog = page.get(catalog)
    entries = list(current.touchpoints)
    if values["retire"]:
        if not current.get(original):
            raise HTTPException(404, f"no touchpoint {original!r} in the catalog")
        seen = page.run("summary")["touchpoints"]
        events = next((r["events"] for r in seen if r["touchpoint"] == original), 0)
        if events:
            errors = {"retire": page.t("pages.retire_refused", n=events)}
            return show(page, values | {"id": original}, errors, new=False, status=422)
        entries = [tp for tp in entries if tp.id != original]
    else:
        tp, errors = build(values)
        taken = tp is not None and tp.id != original and current.get(tp.id) is not None
        if taken:
            errors["id"] = page.t("pages.id_taken", id=values["id"])
        if errors or tp is None:
            return show(page, values, errors, new=not original, status=422)
        if original:
            entries = [tp if e.id == original else e for e in entries]
        else:
            entries.append(tp)
    try:
        edited = Catalog(touchpoints=entries)
        page.service.read(lambda store: store.set_catalog(edited))
    except (ValidationError, TouchpointsError) as exc:
        return show(page, values, {"id": str(exc)}, new=not original, status=422)
    bump(page.service)
    return RedirectResponse("/catalog?saved=1", status_code=303)
