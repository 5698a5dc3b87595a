"""Migration 0010 widens every stored GitLab project id and issue iid to BIGINT, keeping
the rows (SQLite copies the tables: the rows referencing a copied table must survive)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from flags.database import make_engine
from gitlab_ops.schema import metadata as gitlab_metadata
from gitlab_ops.update_schema import metadata as updates_metadata
from rollout_bot import database
from webhook.schema import metadata as webhook_metadata

BEFORE = "0009_tracking_dead_letters"
WIDENED = {
    table: ("project_id", "issue_iid")
    for table in (
        "rollout_issues",
        "issue_renderings",
        "step_shapes",
        "inbox_deliveries",
        "issue_updates",
    )
}


def _seed(engine: sa.Engine) -> None:
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO rollout_issues (project_id, issue_iid, flag, created_at) "
                "VALUES (7, 3, 'my_flag', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO issue_renderings (project_id, issue_iid, template_version, "
                "template_values, origin, recorded_at) VALUES (7, 3, 1, '{}', 'rendered', :now)"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO step_shapes (project_id, issue_iid, step, shape) "
                "VALUES (7, 3, 'enable-dev', '{}')"
            )
        )


def _rows(engine: sa.Engine) -> dict[str, list[tuple[int, int]]]:
    with engine.connect() as conn:
        return {
            table: [
                tuple(row)
                for row in conn.execute(sa.text(f"SELECT project_id, issue_iid FROM {table}"))
            ]
            for table in ("rollout_issues", "issue_renderings", "step_shapes")
        }


def _types(engine: sa.Engine) -> set[str]:
    inspector = sa.inspect(engine)
    found = set()
    for table, columns in WIDENED.items():
        for column in inspector.get_columns(table):
            if column["name"] in columns:
                found.add(type(column["type"]).__name__.upper())
    return found


def test_the_upgrade_keeps_every_row_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    database.upgrade(url, BEFORE)
    engine = make_engine(url)
    try:
        _seed(engine)
        assert _types(engine) == {"INTEGER"}
        database.upgrade(url)
        assert _types(engine) == {"BIGINT"}
        expected = [(7, 3)]
        assert _rows(engine) == dict.fromkeys(
            ("rollout_issues", "issue_renderings", "step_shapes"), expected
        )
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_the_upgrade_and_downgrade_keep_every_row_on_postgresql(postgres_engine: sa.Engine) -> None:
    url = postgres_engine.url.render_as_string(hide_password=False)
    config = database.alembic_config(url)
    command.downgrade(config, BEFORE)
    try:
        assert _types(postgres_engine) == {"INTEGER"}
        _seed(postgres_engine)
    finally:
        command.upgrade(config, "head")
    assert _types(postgres_engine) == {"BIGINT"}
    assert _rows(postgres_engine) == dict.fromkeys(
        ("rollout_issues", "issue_renderings", "step_shapes"), [(7, 3)]
    )


def _tables_of(metadata: sa.MetaData) -> Callable[[str | None, str, object], bool]:
    def ours(name: str | None, kind: str, parents: object) -> bool:
        return kind != "table" or name in metadata.tables

    return ours


def test_the_migrations_match_the_tables_holding_gitlab_ids(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    diffs: list[object] = []
    try:
        with engine.connect() as conn:
            for metadata in (gitlab_metadata, updates_metadata, webhook_metadata):
                context = MigrationContext.configure(
                    conn, opts={"include_name": _tables_of(metadata)}
                )
                diffs += compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert diffs == []
