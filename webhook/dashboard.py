"""`GET /`: what a release manager wants at a glance, rendered by Flask (HTML-escaped)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import render_template_string
from sqlalchemy.engine import Engine

from flags.definitions import Registry
from flags.sql_store import SqlStore
from flags.state import default_state
from gitlab_ops.schema import rollout_issues
from webhook import inbox

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rollout-bot</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head>
<body><h1>rollout-bot</h1>
<h2>Rollout issues</h2>
<table><tr><th>issue</th><th>flag</th>{% for env in environments %}<th>{{ env }}</th>
{% endfor %}</tr>
{% for row in issues %}<tr><td><a href="{{ row.web_url }}">{{ row.web_url }}</a></td>
<td>{{ row.flag }}</td>{% for state in row.states %}<td>{{ state }}</td>{% endfor %}</tr>
{% else %}<tr><td colspan="{{ 2 + environments|length }}">none yet</td></tr>{% endfor %}
</table>
<h2>Inbox</h2>
<p>{% for status, n in counts.items() %}{{ status }}: {{ n }} {% endfor %}</p>
<table><tr><th>id</th><th>status</th><th>kind</th><th>issue</th><th>attempts</th>
<th>received</th><th>last error</th></tr>
{% for d in deliveries %}<tr><td>{{ d.id }}</td><td>{{ d.status }}</td><td>{{ d.kind }}</td>
<td>{{ d.project_id }}#{{ d.issue_iid }}</td><td>{{ d.attempts }}</td>
<td>{{ d.received_at.isoformat(timespec="seconds") }}</td><td>{{ d.last_error or "" }}</td>
</tr>{% endfor %}</table></body></html>
"""


def page(engine: Engine, registry: Registry, environments: tuple[str, ...]) -> str:
    snapshot = SqlStore(engine).snapshot()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(rollout_issues).order_by(rollout_issues.c.created_at.desc()).limit(100)
        ).all()
    issues: list[dict[str, Any]] = []
    for row in rows:
        definition = registry.get(row.flag)
        default = default_state(bool(definition and definition.default_enabled))
        states = [(snapshot.get(env, row.flag) or default).state for env in environments]
        issues.append({"web_url": row.web_url, "flag": row.flag, "states": states})
    return render_template_string(
        PAGE,
        environments=environments,
        issues=issues,
        counts=inbox.counts(engine),
        deliveries=inbox.listing(engine, limit=50),
    )
