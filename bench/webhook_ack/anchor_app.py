"""The anchor of bench/webhook_ack.py: a minimal durable webhook receiver.

Parse the JSON, compare the token, insert one row into SQLite (WAL, busy
timeout), commit, answer 202. One connection per gunicorn worker process.
Configured by WEBHOOK_ACK_DB (an existing SQLite file with a `deliveries`
table) and WEBHOOK_ACK_TOKEN.
"""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
from typing import Any

from flask import Flask, request

app = Flask(__name__)
TOKEN = os.environ["WEBHOOK_ACK_TOKEN"].encode()
_connections: dict[int, sqlite3.Connection] = {}


def _db() -> sqlite3.Connection:
    conn = _connections.get(os.getpid())  # never use a connection across gunicorn's fork
    if conn is None:
        conn = sqlite3.connect(os.environ["WEBHOOK_ACK_DB"], timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA busy_timeout=10000")
        _connections[os.getpid()] = conn
    return conn


@app.post("/webhook")
def receive() -> tuple[dict[str, Any], int]:
    body = request.get_data()
    json.loads(body)
    token = request.headers.get("X-Gitlab-Token", "").encode()
    if not hmac.compare_digest(token, TOKEN):
        return {"status": "rejected"}, 401
    key = request.headers["Idempotency-Key"]
    conn = _db()
    cur = conn.execute(
        "INSERT OR IGNORE INTO deliveries (key, body) VALUES (?, ?)", (key, body.decode())
    )
    conn.commit()
    return {"status": "queued" if cur.rowcount == 1 else "duplicate"}, 202
