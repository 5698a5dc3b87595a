"""The Flask app factory: configuration from a mapping, nothing read at import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify
from sqlalchemy.engine import Engine

from webhook.receiver import ReceiverConfig, blueprint


def create_app(
    engine: Engine,
    config: Mapping[str, Any] | None = None,
    *,
    receiver: ReceiverConfig | None = None,
) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})
    if receiver is not None:
        app.register_blueprint(blueprint(receiver))

    @app.get("/healthz")
    def healthz() -> tuple[Any, int]:
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError as exc:
            return jsonify(status="error", database=type(exc).__name__), 503
        return jsonify(status="ok", database="ok"), 200

    return app
