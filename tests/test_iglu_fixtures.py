"""The suite's Iglu schemas (tests/fixtures/iglu): well-formed, and strict where ours must be.

The collector validates every body the suite sends against them; these tests show what
they refuse, so a schema loosened by mistake fails here. conformance/test_iglu.py holds
them no looser than the public schemas.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
import requests
from jsonschema import Draft4Validator

from tests.snowplow_collector import TP2, Collector
from tests.snowplow_collector.iglu import (
    CONTEXTS,
    FIXTURE_IGLU,
    GITLAB_STANDARD,
    PAYLOAD_DATA,
    SCHEMAS,
    IgluSchemas,
    decode_contexts,
    schema_path,
)
from tracking import GroupStage
from tracking.payload import GITLAB_STANDARD_SCHEMA, PayloadBuilder
from tracking.sender import PAYLOAD_DATA_SCHEMA

EXTRA = {"id": 7, "name": "stage", "hidden": False, "relative_position": None}


def event(**extra: Any) -> dict[str, Any]:
    builder = PayloadBuilder(app_id="rollout-bot-test", environment="production")
    built = builder.build(
        category="GroupStage",
        op="create",
        label="group_stages",
        extra=extra or EXTRA,
        namespace_id=9970,
    )
    payload: dict[str, Any] = json.loads(built)
    payload["stm"] = "1795000000456"  # as the sender adds it
    return payload


def with_contexts(payload: dict[str, Any], envelope: Any) -> dict[str, Any]:
    raw = base64.urlsafe_b64encode(json.dumps(envelope).encode()).decode()
    return {**payload, "cx": raw}


def body(*events: dict[str, Any]) -> dict[str, Any]:
    return {"schema": PAYLOAD_DATA, "data": list(events)}


def test_the_schemas_are_the_ones_the_code_names() -> None:
    assert (PAYLOAD_DATA, GITLAB_STANDARD) == (PAYLOAD_DATA_SCHEMA, GITLAB_STANDARD_SCHEMA)
    assert decode_contexts(event())["schema"] == CONTEXTS  # type: ignore[index]
    files = sorted(str(p.relative_to(FIXTURE_IGLU)) for p in FIXTURE_IGLU.rglob("*.json"))
    assert files == sorted(
        str(schema_path(FIXTURE_IGLU, uri).relative_to(FIXTURE_IGLU)) for uri in SCHEMAS
    )


@pytest.mark.parametrize("uri", SCHEMAS)
def test_each_schema_is_draft_4_and_describes_itself(uri: str) -> None:
    document = json.loads(schema_path(FIXTURE_IGLU, uri).read_text(encoding="utf-8"))
    Draft4Validator.check_schema(document)
    vendor, name, schema_format, version = uri.removeprefix("iglu:").split("/")
    assert document["self"] == {
        "vendor": vendor,
        "name": name,
        "format": schema_format,
        "version": version,
    }


def test_what_the_tracker_sends_is_accepted() -> None:
    every_column = {
        "id": 1,
        "created_at": "2026-01-02T03:04:05.123456+00:00",
        "updated_at": "2026-01-02T03:04:05+00:00",
        "relative_position": 3,
        "start_event_identifier": 1,
        "end_event_identifier": 2,
        "group_id": 2_147_483_648,
        "start_event_label_id": None,
        "end_event_label_id": 5,
        "hidden": True,
        "custom": False,
        "name": "é" * 255,
        "group_value_stream_id": 10,
    }
    assert set(every_column) == set(GroupStage.SNOWPLOW_ATTRIBUTES)
    assert IgluSchemas().body_problems(body(event(), event(**every_column))) == []


def mutate(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """One event whose gitlab_standard data has `value` at `path` (None value: key removed)."""
    payload = event()
    envelope = decode_contexts(payload)
    assert envelope is not None
    target = envelope["data"][0]["data"]
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return with_contexts(payload, envelope)


STANDARD = "gitlab_standard: "


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (body(), "payload_data: [] should be non-empty"),
        (body({k: v for k, v in event().items() if k != "se_ca"}), "'se_ca' is a required"),
        (body({**event(), "p": "web"}), "'web' is not one of ['srv']"),
        (body({**event(), "e": "ue"}), "'ue' is not one of ['se']"),
        (body({**event(), "ue_px": "e30"}), "('ue_px' was unexpected)"),
        (body({**event(), "se_ac": "database_event_upsert"}), "does not match"),
        (body({**event(), "dtm": 1795000000123}), "1795000000123 is not of type 'string'"),
        (body({**event(), "eid": "not-a-uuid"}), "'not-a-uuid' does not match"),
        (body(mutate(("extra", "secret"), "s3cret")), "is not valid under any of the given"),
        (body(mutate(("extra", "hidden"), "no")), "is not valid under any of the given"),
        (body(mutate(("namespace_id",), 2_147_483_648)), "2147483648 is greater than"),
        (body(mutate(("environment",), "e" * 33)), "is too long"),
        (body(mutate(("source",), None)), "'source' is a required property"),
        (body(mutate(("user_id",), 5)), "5 is not of type 'null'"),
        (body(mutate(("context_generated_at",), "2026-01-02 03:04:05")), "does not match"),
        (body(mutate(("is_gitlab_team_member",), True)), "was unexpected"),
        (
            body(with_contexts(event(), {"schema": CONTEXTS, "data": []})),
            "contexts: [] should be non-empty",
        ),
        (
            body(
                with_contexts(
                    event(),
                    {
                        "schema": CONTEXTS,
                        "data": [
                            {"schema": GITLAB_STANDARD.replace("1-0-10", "1-1-7"), "data": {}}
                        ],
                    },
                )
            ),
            "is not one of ['iglu:com.gitlab/gitlab_standard/jsonschema/1-0-10']",
        ),
        (body({**event(), "cx": "%%%"}), "does not match"),
        ({"schema": CONTEXTS, "data": [event()]}, f"body is not a {PAYLOAD_DATA} document"),
    ],
)
def test_what_ours_must_not_send_is_refused(broken: dict[str, Any], expected: str) -> None:
    problems = IgluSchemas().body_problems(copy.deepcopy(broken))
    assert any(expected in problem for problem in problems), problems


def test_the_collector_reports_a_bad_body_and_still_accepts_it() -> None:
    with Collector() as collector:
        bad = body(mutate(("extra", "secret"), "s3cret"))
        response = requests.post(collector.url + TP2, json=bad, timeout=5)
        assert response.status_code == 200
        assert len(collector.accepted()) == 1
        assert len(collector.errors) == 1 and STANDARD in collector.errors[0]
