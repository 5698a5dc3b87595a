"""The Flask app factory: configuration from a mapping, nothing read at import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, jsonify
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from flags.definitions import Registry
from flags.environments import DEFAULT_ENVIRONMENTS
from webhook import dashboard, metrics, page_auth
from webhook.receiver import ReceiverConfig, blueprint


def create_app(
    engine: Engine,
    config: Mapping[str, Any] | None = None,
    *,
    receiver: ReceiverConfig | None = None,
    registry: Registry | None = None,
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS,
    collectors: Iterable[Collector] = (),
    dashboard_token: str | None = None,
) -> Flask:
    """``dashboard_token`` guards the dashboard (`/`, `/flags/NAME`, `/health`, `/api/*`)
    and `/metrics`; None turns them off (404)."""
    app = Flask(__name__)
    app.config.update(config or {})
    if receiver is not None:
        app.register_blueprint(blueprint(receiver))
    app.register_blueprint(
        dashboard.blueprint(engine, registry or Registry(), environments, dashboard_token)
    )
    scrape = metrics.exposition(metrics.registry(engine, collectors))

    @app.get("/metrics")
    def metrics_page() -> Response:
        refused = page_auth.refusal(dashboard_token)
        if refused is not None:
            return refused
        return Response(scrape(), mimetype=None, content_type=metrics.CONTENT_TYPE)

    @app.get("/healthz")
    def healthz() -> tuple[Any, int]:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return jsonify(status="error", database=type(exc).__name__), 503
        return jsonify(status="ok", database="ok"), 200

    return app
