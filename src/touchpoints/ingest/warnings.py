"""Warnings: rows that will be stored but counted nowhere or wrongly, said once per file in
the ingest summary (and its JSON as `warnings`).

A warning never changes what is stored: the rows are valid SPEC §2 events. It names what
the KPIs of SPEC §4 will make of them, so a file of wait times without `abandoned` (which
no `offered` counts) or order values without `action = purchase` (which no `revenue`
sums) is noticed when it is loaded rather than months later. Reasons in quarantine say
what was rejected; warnings say what was stored but will surprise.

Times before `ts_min` or more than a day ahead are no warning: `ingest/checks.py`
quarantines them with the accepted range as the reason (docs/security.md).

Each warning is `{"file", "code", "rows", "message"}` (plus the values its message names:
`given`/`meant` touchpoints): `code` names the case (messages under
`ingest.warning.<code>` in both languages), `rows` how many rows it concerns.
"""

from __future__ import annotations

import duckdb

from touchpoints.core.catalog import Catalog
from touchpoints.core.messages import t
from touchpoints.ingest.checks import Staged

Warning_ = dict[str, object]


def _warning(source: str, code: str, rows: int, **values: object) -> Warning_:
    return {
        "file": source,
        "code": code,
        "rows": rows,
        **values,
        "message": t("en", f"ingest.warning.{code}", rows=rows, **values),
    }


def staged_warnings(
    con: duckdb.DuckDBPyConnection, staged: Staged, catalog: Catalog
) -> list[Warning_]:
    """What the rows about to be stored (`_good`) and the rejected ones (`_typed`) will
    surprise with; one pass over the good rows."""
    warnings: list[Warning_] = []
    source = staged.source
    if staged.rows and staged.rejected_rows == staged.rows:
        warnings.append(_warning(source, "all_rejected", staged.rows))
    if staged.good:
        # A wait means a queue; a handle time alone means one only at a touchpoint with an
        # answer target (a delivery's or a sales visit's duration is no service contact).
        queues = [tp.id for tp in catalog.touchpoints if "answer_within" in tp.target]
        untimed, unpurchased = con.execute(
            """SELECT
                count(*) FILTER (WHERE abandoned IS NULL
                                 AND (wait_seconds IS NOT NULL
                                      OR (handle_seconds IS NOT NULL
                                          AND list_contains(CAST($queues AS VARCHAR[]),
                                                            touchpoint)))),
                count(*) FILTER (WHERE value IS NOT NULL AND action <> 'purchase')
            FROM _good""",
            {"queues": queues},
        ).fetchall()[0]
        if untimed:
            warnings.append(_warning(source, "times_without_abandoned", int(untimed)))
        if unpurchased:
            warnings.append(_warning(source, "value_not_purchase", int(unpurchased)))
    warnings.extend(_case_only(con, staged, catalog))
    return warnings


def _case_only(con: duckdb.DuckDBPyConnection, staged: Staged, catalog: Catalog) -> list[Warning_]:
    """Rejected touchpoints that the catalog has in another case (`WhatsApp`/`whatsapp`):
    ids are exact, so the rows were rejected; the warning names the id meant."""
    if staged.rejected_rows == 0:
        return []
    ids = [tp.id for tp in catalog.touchpoints if tp.is_touchpoint]
    rows = con.execute(
        """SELECT t.touchpoint, list_extract(list_filter(CAST($ids AS VARCHAR[]),
                  lambda i: lower(i) = lower(t.touchpoint)), 1) AS meant, count(*)
        FROM _typed t
        WHERE t._problem IS NOT NULL AND t.touchpoint IS NOT NULL
          AND NOT list_contains(CAST($ids AS VARCHAR[]), t.touchpoint)
          AND list_contains(list_transform(CAST($ids AS VARCHAR[]), lambda i: lower(i)),
                            lower(t.touchpoint))
        GROUP BY ALL ORDER BY 1""",
        {"ids": ids},
    ).fetchall()
    return [
        _warning(staged.source, "touchpoint_case", int(n), given=given, meant=meant)
        for given, meant, n in rows
    ]


def source_note(staged: Staged, note: dict[str, object]) -> Warning_:
    """What reading through a source noticed (`sources.Reading.notes`), as a warning."""
    values = {k: v for k, v in note.items() if k != "code"}
    return _warning(staged.source, str(note["code"]), staged.rows, **values)
