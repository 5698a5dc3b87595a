"""The tracker's real payloads against the public Iglu schemas (../shared/data/iglu).

The suite validates every body against schemas written for it (tests/fixtures/iglu).
Here the same collector validates against Snowplow's and GitLab's published files,
and the suite's schemas are held no looser than those: on the real payloads and on
variants of them, nothing the suite's schemas accept is refused by the public ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from conformance.conftest import IGLU
from tests.snowplow_collector import Collector
from tests.snowplow_collector.iglu import (
    GITLAB_STANDARD,
    PAYLOAD_DATA,
    IgluSchemas,
    decode_contexts,
)
from tests.snowplow_collector.stack import Stack, contexts_of, new_stage
from tracking import GroupStage
from tracking.payload import PayloadBuilder

PUBLIC = IgluSchemas(IGLU)
OURS = IgluSchemas()
# Values a field could wrongly take: types, bounds and lengths the schemas speak of.
ODD_VALUES: tuple[Any, ...] = (None, 0, -1, 2**31, 1.5, True, "", "x" * 65, [], {})


@pytest.fixture
def collector() -> Iterator[Collector]:
    """The suite's collector, validating against the public schemas instead of ours."""
    with Collector(iglu=IGLU) as running:
        yield running
    assert running.errors == []


@pytest.fixture
def events(stack: Stack, collector: Collector) -> list[dict[str, Any]]:
    """A create, an update and a destroy, ids beyond 32 bits and nulls among them."""
    kept, gone = stack.commit(
        new_stage(group_id=1), new_stage(group_id=2_147_483_648, relative_position=None)
    )
    with stack.Session() as session:
        session.scalars(select(GroupStage).where(GroupStage.id == kept.id)).one().hidden = True
        session.delete(session.get(GroupStage, gone.id))
        session.commit()
    delivered = stack.delivered(4)
    assert sorted(event["se_pr"] for event in delivered) == [
        "create",
        "create",
        "destroy",
        "update",
    ]
    return delivered


def variants(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The document without each key, with each key set to each odd value, with a new key."""
    yield {}
    for key in document:
        yield {k: v for k, v in document.items() if k != key}
        for value in ODD_VALUES:
            yield {**document, key: value}
    yield {**document, "unexpected": "x"}


def looser(
    check: Callable[[IgluSchemas, Any], list[str]], candidates: list[Any]
) -> tuple[list[Any], int]:
    """The candidates ours accept and the public schema refuses; how many it refused."""
    refused = [c for c in candidates if check(PUBLIC, c)]
    return [c for c in refused if not check(OURS, c)], len(refused)


def test_every_body_meets_the_public_schemas_and_ours(
    events: list[dict[str, Any]], collector: Collector
) -> None:
    assert collector.errors == []  # the public schemas, through the collector
    for request in collector.requests:
        document = {"schema": PAYLOAD_DATA, "data": request.events}
        assert PUBLIC.body_problems(document) == []
        assert OURS.body_problems(document) == []


def test_ours_accept_no_payload_the_public_schema_refuses(events: list[dict[str, Any]]) -> None:
    candidates = [[], [events[0], "not an event"], *([v] for e in events for v in variants(e))]
    accepted, refused = looser(IgluSchemas.payload_problems, candidates)
    assert accepted == []
    assert refused > 100  # the public schema does refuse variants: the check can fail


def test_ours_accept_no_contexts_the_public_schema_refuses(events: list[dict[str, Any]]) -> None:
    candidates: list[Any] = [None, {}, "x", [1]]
    for event in events:
        (context,) = contexts_of(event)
        candidates += [[context, context], [*variants(context)], *([v] for v in variants(context))]
    accepted, refused = looser(IgluSchemas.contexts_problems, candidates)
    assert accepted == []
    assert refused > 10


def test_ours_accept_no_gitlab_standard_the_public_schema_refuses(
    events: list[dict[str, Any]],
) -> None:
    candidates: list[Any] = []
    for event in events:
        (context,) = contexts_of(event)
        assert context["schema"] == GITLAB_STANDARD
        data = context["data"]
        candidates += [*variants(data), *({**data, "extra": v} for v in variants(data["extra"]))]
    accepted, refused = looser(IgluSchemas.standard_problems, candidates)
    assert accepted == []
    assert refused > 100


def test_the_payload_alone_matches_the_public_schemas() -> None:
    builder = PayloadBuilder(app_id="app", environment="production")
    payload = json.loads(
        builder.build(
            category="GroupStage",
            op="update",
            label="group_stages",
            extra={"id": 1, "name": "é", "hidden": False, "relative_position": None},
            namespace_id=3_000_000_000,
        )
    )
    assert PUBLIC.payload_problems([payload]) == []
    assert all(isinstance(value, str) for value in payload.values())
    envelope = decode_contexts(payload)
    assert envelope is not None and PUBLIC.contexts_problems(envelope["data"]) == []
    (context,) = envelope["data"]
    assert context["schema"] == GITLAB_STANDARD
    assert PUBLIC.standard_problems(context["data"]) == []
    assert context["data"]["namespace_id"] is None  # beyond the schema's 32-bit ids
    assert context["data"]["extra"]["name"] == "é"
