"""One customer across channels: an identity map of aliases (phone, e-mail, a help desk's
contact id, a WhatsApp id) that belong to one person, each pointing at the customer id that
person's events are stored under.

The map holds ids as they are stored: with a pseudonymisation key, both sides are
pseudonyms, so the map never holds a phone number the events do not. It is applied

- at ingestion: staged rows whose customer_id is an alias get the person's id before the
  conflict check and the commit (files and records alike);
- to stored events when a link is learned: their customer_id is updated, so journeys,
  retention and customer counts see one person.

Links come from a file (`touchpoints identities load FILE`: one person per row, every
non-empty cell an alias; a `customer_id` column, when present, names the id to keep) and
from connectors that know several ids of a contact (Chatwoot contacts carry phone and
e-mail). Two groups that share an alias become one person: the id kept is the one already
stored for the group first linked, else the row's first id.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from touchpoints.core.errors import InputFileError
from touchpoints.ingest.pseudonymize import is_pseudonym, key_text, pseudonymize
from touchpoints.store import derived
from touchpoints.store.base import Store

TYPES = {
    "duckdb": ("VARCHAR", "TIMESTAMP"),
    "postgres": ("TEXT", "TIMESTAMP"),
}
CHUNK = 1000


def ensure_table(store: Store) -> bool:
    """Create the map on first use; False where the engine keeps none (Spark)."""
    if store.engine not in TYPES:
        return False
    text, ts = TYPES[store.engine]
    store._native(
        f"CREATE TABLE IF NOT EXISTS identities (alias {text} PRIMARY KEY, "
        f"customer_id {text}, source {text}, linked_at {ts})"
    )
    return True


def has_identities(store: Store) -> bool:
    return store.has_table("identities") and store.holds_rows("identities")


def _stored_form(value: str, secret: str | None) -> str:
    value = value.strip()
    if secret is not None and not is_pseudonym(value):
        return pseudonymize(value, secret)
    return value


def _lookup(store: Store, ids: Sequence[str]) -> dict[str, str]:
    """alias -> customer id, for those of `ids` that are aliases."""
    found: dict[str, str] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        marks = ", ".join(f"$a{i}" for i in range(len(chunk)))
        for r in store.query(
            f"SELECT alias, customer_id FROM identities WHERE alias IN ({marks})",
            {f"a{i}": v for i, v in enumerate(chunk)},
        ):
            found[r["alias"]] = r["customer_id"]
    return found


def link(
    store: Store, groups: Iterable[Sequence[str]], source: str, key: str | None = None
) -> dict[str, int]:
    """Link each group's ids as one person, merging with groups already known; update the
    stored events of every alias to the person's id. Returns counts: `people` (groups
    given), `aliases` (new or moved), `events` (stored rows whose customer_id changed)."""
    store.refuse_operational("linking identities")
    if not ensure_table(store):
        return {"people": 0, "aliases": 0, "events": 0}
    secret = key_text(key)
    now = datetime.now(UTC).replace(tzinfo=None)
    people = moved = updated = 0
    with store.transaction():
        for group in groups:
            ids = list(dict.fromkeys(_stored_form(i, secret) for i in group if i and i.strip()))
            if len(ids) < 1:
                continue
            people += 1
            known = _lookup(store, ids)
            # The person's id: the id a member already points at, else the first given.
            target = next((known[i] for i in ids if i in known), ids[0])
            merged = {known[i] for i in ids if i in known and known[i] != target}
            members = set(ids) | {target}
            for other in merged:
                store.execute(
                    "UPDATE identities SET customer_id = $target WHERE customer_id = $other",
                    {"target": target, "other": other},
                )
                members.add(other)
            for alias in sorted(members):
                if known.get(alias) == target:
                    continue
                store.execute("DELETE FROM identities WHERE alias = $alias", {"alias": alias})
                store.execute(
                    "INSERT INTO identities VALUES ($alias, $target, $source, $now)",
                    {"alias": alias, "target": target, "source": source, "now": now},
                )
                moved += 1
            updated += _update_events(store, sorted(members - {target}), target)
    return {"people": people, "aliases": moved, "events": updated}


def _update_events(store: Store, aliases: list[str], target: str) -> int:
    n = 0
    for start in range(0, len(aliases), CHUNK):
        chunk = aliases[start : start + CHUNK]
        marks = ", ".join(f"$a{i}" for i in range(len(chunk)))
        params = {"target": target, **{f"a{i}": v for i, v in enumerate(chunk)}}
        n += int(
            store.query(f"SELECT count(*) AS n FROM events WHERE customer_id IN ({marks})", params)[
                0
            ]["n"]
        )
        store.execute(
            f"UPDATE events SET customer_id = $target WHERE customer_id IN ({marks})", params
        )
        # The journey facts follow the events: the aliases' cycles are gone, the person's
        # are cut again over the merged history (nothing when the store keeps no facts).
        derived.forget(store, marks, params)
        derived.refresh(store, "SELECT $target AS customer_id", params)
    return n


def read_groups(path: str | Path) -> list[list[str]]:
    """One person per CSV row: every non-empty cell an alias; a `customer_id` column, when
    the file has one, first (the id to keep for a new person)."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            names = reader.fieldnames or []
            if not names:
                raise InputFileError(str(p), "no header row (one person per row: phone,email,...)")
            first = [n for n in names if n.strip().lower() == "customer_id"]
            order = first + [n for n in names if n not in first]
            return [[(row.get(n) or "").strip() for n in order if (row.get(n) or "").strip()]
                    for row in reader]  # fmt: skip
    except FileNotFoundError:
        raise InputFileError(str(p), "file not found") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(str(p), f"not UTF-8 (byte {exc.start})") from None


def apply_staged(store: Store, con: duckdb.DuckDBPyConnection) -> int:
    """Give staged rows (`_typed`) whose customer_id is an alias the person's id; how many
    rows changed. The map's entries for the staged ids are fetched (few) and joined here."""
    if not has_identities(store):
        return 0
    ids = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT customer_id FROM _typed WHERE _problem IS NULL "
            "AND customer_id IS NOT NULL"
        ).fetchall()
    ]
    found = _lookup(store, ids)
    found = {a: c for a, c in found.items() if a != c}
    if not found:
        return 0
    con.register(
        "_identities",
        pa.table({"alias": list(found), "customer_id": list(found.values())}),
    )
    try:
        n = con.execute(
            "SELECT count(*) FROM _typed t JOIN _identities i ON i.alias = t.customer_id "
            "WHERE t._problem IS NULL"
        ).fetchall()[0][0]
        con.execute(
            "UPDATE _typed SET customer_id = i.customer_id FROM _identities i "
            "WHERE _typed.customer_id = i.alias AND _typed._problem IS NULL"
        )
    finally:
        con.unregister("_identities")
    return int(n)


def apply_records(store: Store, rows: list[Any], position: int = 1) -> list[Any]:
    """The records fast path's typed rows with aliases replaced (customer_id at `position`)."""
    if not rows or not has_identities(store):
        return rows
    found = _lookup(store, sorted({str(r[position]) for r in rows if r[position] is not None}))
    if not found:
        return rows
    return [r[:position] + (found.get(r[position], r[position]),) + r[position + 1 :] for r in rows]


def merged_ids(store: Store, ids: Sequence[str]) -> list[str]:
    """Every id the person behind `ids` may be stored under: the ids, the person's id and
    all its aliases (privacy export and erase work on the merged customer)."""
    if not has_identities(store):
        return list(ids)
    people = set(_lookup(store, list(ids)).values()) | set(ids)
    marks = ", ".join(f"$p{i}" for i in range(len(people)))
    params = {f"p{i}": v for i, v in enumerate(sorted(people))}
    aliases = store.query(f"SELECT alias FROM identities WHERE customer_id IN ({marks})", params)
    return list(dict.fromkeys([*ids, *sorted(people), *(r["alias"] for r in aliases)]))


def forget(store: Store, ids: Sequence[str]) -> int:
    """Delete the map's rows of these ids (erasure); how many."""
    if not has_identities(store) or not ids:
        return 0
    marks = ", ".join(f"$i{i}" for i in range(len(ids)))
    params = {f"i{i}": v for i, v in enumerate(ids)}
    where = f"alias IN ({marks}) OR customer_id IN ({marks})"
    n = store.query(f"SELECT count(*) AS n FROM identities WHERE {where}", params)[0]["n"]
    store.execute(f"DELETE FROM identities WHERE {where}", params)
    return int(n)


def rows_of(store: Store, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The map's rows of these ids (privacy export)."""
    if not has_identities(store) or not ids:
        return []
    marks = ", ".join(f"$i{i}" for i in range(len(ids)))
    params = {f"i{i}": v for i, v in enumerate(ids)}
    return store.query(
        f"SELECT alias, customer_id, source, linked_at FROM identities "
        f"WHERE alias IN ({marks}) OR customer_id IN ({marks}) ORDER BY alias",
        params,
    )
