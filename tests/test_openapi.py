"""OpenAPI (SPEC §6): every analysis has its GET route, with query parameters named like
the CLI options and a response schema; and the schema is the truth: every analysis's JSON
on the demo store is exactly what its declared result model describes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from touchpoints.analytics.registry import Analysis, analyses, option_flag
from touchpoints.analytics.results import dumps
from touchpoints.core.settings import Settings
from touchpoints.server.app import create_app
from touchpoints.store import open_store

# Options that make each analysis answer with its optional parts filled in (the Markov
# details, a scenario, a customer), so that the whole schema is held to the data.
OPTIONS: dict[str, dict[str, Any]] = {
    "attribution": {"model": "markov", "order": "auto", "details": True},
    "whatif": {"touchpoint": "phone", "abandonment": 0.02},
    "staffing": {"touchpoint": ["phone"], "target_service_level": 0.8},
    "customer.journey": {"customer_id": "C000112"},
    "customer.events": {"customer_id": "C000112"},
    "agents": {"min_answers": 3},
    "insights": {"min_answers": 5},
    "journeys.funnel": {"steps": ["website", "store"]},
    "events": {"limit": 1000},
    "forecast": {"touchpoint": ["whatsapp"], "horizon": "2d", "timezone": "America/Sao_Paulo"},
    "changes.list": {},
    "effect": {
        "change": 1,
        "metric": "abandonment_rate",
        "window": "90d",
        "timezone": "America/Sao_Paulo",
    },
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = str(tmp_path_factory.mktemp("openapi") / "empty.duckdb")
    open_store(db).close()
    with TestClient(create_app(Settings(db=db), db)) as client:
        r = client.get("/openapi.json")
        assert r.status_code == 200
        return r.json()  # type: ignore[no-any-return]


def route(spec: dict[str, Any], analysis: Analysis) -> dict[str, Any]:
    assert analysis.http_path in spec["paths"], analysis.http_path
    methods = spec["paths"][analysis.http_path]
    assert "get" in methods, analysis.http_path
    return methods["get"]  # type: ignore[no-any-return]


def test_every_analysis_has_a_get_route_with_its_response_schema(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for analysis in analyses():
        ok = route(spec, analysis)["responses"]["200"]["content"]["application/json"]["schema"]
        name = ok["$ref"].removeprefix("#/components/schemas/")
        assert name == analysis.result.__name__, analysis.name
        assert set(schemas[name]["properties"]) == {
            f.alias or n for n, f in analysis.result.model_fields.items()
        }
        assert {"400", "401", "403"} <= set(route(spec, analysis)["responses"])


def test_query_parameters_are_named_like_the_cli_options(spec: dict[str, Any]) -> None:
    for analysis in analyses():
        params = route(spec, analysis).get("parameters", [])
        query = {p["name"] for p in params if p["in"] == "query"}
        path = {p["name"] for p in params if p["in"] == "path"}
        cli_names = {
            option_flag(n).removeprefix("--").replace("-", "_")
            for n in analysis.option_fields()
            if n not in analysis.arguments
        }
        assert query == cli_names, analysis.name
        assert path == set(analysis.arguments), analysis.name


def test_events_path_ingests_with_post_and_drills_down_with_get(spec: dict[str, Any]) -> None:
    events = spec["paths"]["/v1/events"]
    assert set(events) == {"get", "post"}
    limit = next(p for p in events["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (1000, 100)
    journey = spec["paths"]["/v1/customers/{customer_id}/journey"]["get"]
    assert journey["parameters"][0]["in"] == "path"


def described(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """The JSON as its model reads and writes it back: equal to the JSON only when the
    model declares every key the JSON holds, with its type (a key the model does not know
    is dropped; a required key the JSON lacks fails validation)."""
    return model.model_validate(data).model_dump(mode="json", by_alias=True, exclude_unset=True)


def test_every_analysis_json_is_its_declared_result(demo_300: str) -> None:
    store = open_store(demo_300, read_only=True)
    try:
        for analysis in analyses():
            data = json.loads(dumps(analysis.compute(store, **OPTIONS.get(analysis.name, {}))))
            assert described(analysis.result, data) == data, analysis.name
    finally:
        store.close()
