"""The ceiling of bench/webhook_ack.py: a bare Flask route that answers 200 unread."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.post("/webhook")
def receive() -> tuple[str, int]:
    return "ok", 200
