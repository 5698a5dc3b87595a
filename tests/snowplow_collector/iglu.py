"""What a tp2 body must satisfy: the Iglu schemas our payloads name, read from one folder.

The folder is laid out as Iglu repositories are, `<vendor>/<name>/jsonschema/<version>.json`.
The suite reads tests/fixtures/iglu (written for this project: what our payloads must be);
conformance/ reads the public schemas (the public reference data) the same way. Their `$schema`
is Iglu's self-describing meta-schema, which a plain validator does not know: the documents
are used as Draft 4 schemas, as Iglu itself treats them.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

FIXTURE_IGLU = Path(__file__).resolve().parents[1] / "fixtures" / "iglu"
PAYLOAD_DATA = "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4"
CONTEXTS = "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1"
GITLAB_STANDARD = "iglu:com.gitlab/gitlab_standard/jsonschema/1-0-10"
SCHEMAS = (PAYLOAD_DATA, CONTEXTS, GITLAB_STANDARD)


def schema_path(root: Path, uri: str) -> Path:
    vendor, name, schema_format, version = uri.removeprefix("iglu:").split("/")
    return root / vendor / name / schema_format / f"{version}.json"


def decode_contexts(event: dict[str, Any]) -> dict[str, Any] | None:
    """An event's contexts envelope, from `cx` (URL-safe base64) or `co` (plain JSON)."""
    if "cx" in event:
        raw = event["cx"]
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        return decoded
    if "co" in event:
        plain: dict[str, Any] = json.loads(event["co"])
        return plain
    return None


def _messages(validator: Draft4Validator, instance: Any, prefix: str) -> list[str]:
    return [f"{prefix}: {error.message}" for error in validator.iter_errors(instance)]


class IgluSchemas:
    """The three schemas of one Iglu folder, and the problems a body has against them."""

    def __init__(self, root: Path = FIXTURE_IGLU) -> None:
        self.root = root
        payload_data, contexts, standard = (
            Draft4Validator(json.loads(schema_path(root, uri).read_text(encoding="utf-8")))
            for uri in SCHEMAS
        )
        self._payload_data, self._contexts, self._standard = payload_data, contexts, standard

    def payload_problems(self, events: Any) -> list[str]:
        return _messages(self._payload_data, events, "payload_data")

    def contexts_problems(self, contexts: Any, where: str = "") -> list[str]:
        return _messages(self._contexts, contexts, f"{where}contexts")

    def standard_problems(self, data: Any, where: str = "") -> list[str]:
        return _messages(self._standard, data, f"{where}gitlab_standard")

    def body_problems(self, body: Any) -> list[str]:
        """Every problem of a POSTed body: the payload, each context list, each context."""
        if not isinstance(body, dict) or body.get("schema") != PAYLOAD_DATA:
            return [f"body is not a {PAYLOAD_DATA} document"]
        problems = self.payload_problems(body.get("data"))
        for event in body.get("data") or []:
            if isinstance(event, dict):
                problems += self._event_problems(event)
        return problems

    def _event_problems(self, event: dict[str, Any]) -> list[str]:
        where = f"event {event.get('eid')}: "
        try:
            envelope = decode_contexts(event)
        except ValueError as exc:
            return [f"{where}contexts do not decode: {exc}"]
        if envelope is None:
            return []
        problems = []
        if envelope.get("schema") != CONTEXTS:
            problems.append(f"{where}contexts schema {envelope.get('schema')}")
        problems += self.contexts_problems(envelope.get("data"), where)
        for context in envelope.get("data") or []:
            if not isinstance(context, dict) or context.get("schema") != GITLAB_STANDARD:
                problems.append(f"{where}unexpected context {context!r:.80}")
                continue
            problems += self.standard_problems(context.get("data"), where)
        return problems
