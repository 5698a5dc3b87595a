"""The SQLAlchemy store: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from flags.database import DEFAULT_CHECK_TIMEOUT, bounded
from flags.schema import (
    VERSION_ROW_ID,
    command_runs,
    flag_audit,
    flag_features,
    flag_gates,
    flag_instances,
    flag_versions,
)
from flags.state import FlagState
from flags.store import AuditRecord, Snapshot, States


def _rows_to_gates(rows: list[tuple[str, str]]) -> FlagState:
    gates: dict[str, Any] = {"actors": [], "groups": []}
    for gate, value in rows:
        if gate == "boolean":
            gates["boolean"] = value == "true"
        elif gate in ("actors", "groups"):
            gates[gate].append(value)
        elif gate in ("percentage_of_actors", "percentage_of_time"):
            gates[gate] = float(value)
    return FlagState.from_gates(gates)


def _state_to_rows(state: FlagState) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    if state.boolean:
        rows.append(("boolean", "true"))
    rows += [("actors", actor) for actor in sorted(state.actors)]
    rows += [("groups", group) for group in sorted(state.groups)]
    if state.percentage_of_actors:
        rows.append(("percentage_of_actors", repr(float(state.percentage_of_actors))))
    if state.percentage_of_time:
        rows.append(("percentage_of_time", repr(float(state.percentage_of_time))))
    return rows


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class _SqlTransaction:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dirty = False

    def get(self, environment: str, name: str) -> FlagState | None:
        present = self.conn.execute(
            sa.select(flag_features.c.feature).where(
                flag_features.c.environment == environment, flag_features.c.feature == name
            )
        ).first()
        if present is None:
            return None
        rows = self.conn.execute(
            sa.select(flag_gates.c.gate, flag_gates.c.value).where(
                flag_gates.c.environment == environment, flag_gates.c.feature == name
            )
        ).all()
        return _rows_to_gates([(r.gate, r.value) for r in rows])

    def put(self, environment: str, name: str, state: FlagState | None) -> None:
        self.dirty = True
        where = (flag_gates.c.environment == environment, flag_gates.c.feature == name)
        self.conn.execute(sa.delete(flag_gates).where(*where))
        if state is None:
            self.conn.execute(
                sa.delete(flag_features).where(
                    flag_features.c.environment == environment, flag_features.c.feature == name
                )
            )
            return
        exists = self.conn.execute(
            sa.select(flag_features.c.feature).where(
                flag_features.c.environment == environment, flag_features.c.feature == name
            )
        ).first()
        if exists is None:
            self.conn.execute(
                sa.insert(flag_features).values(
                    environment=environment, feature=name, created_at=dt.datetime.now(dt.UTC)
                )
            )
        rows = _state_to_rows(state)
        if rows:
            self.conn.execute(
                sa.insert(flag_gates),
                [
                    {"environment": environment, "feature": name, "gate": g, "value": v}
                    for g, v in rows
                ],
            )

    def record(self, record: AuditRecord) -> None:
        self.dirty = True
        self.conn.execute(
            sa.insert(flag_audit).values(
                at=record.at,
                environment=record.environment,
                feature=record.flag,
                action=record.action,
                gate=record.gate,
                before=record.before,
                after=record.after,
                who=record.who,
                source=record.source,
                user_id=record.user_id,
                delivery=record.delivery,
                command=record.command,
                instance=record.instance,
            )
        )

    def recall(self, key: str) -> Any | None:
        return self.conn.scalar(sa.select(command_runs.c.result).where(command_runs.c.key == key))

    def remember(self, key: str, result: Any) -> None:
        self.dirty = True
        self.conn.execute(
            sa.insert(command_runs).values(
                key=key, result=result, created_at=dt.datetime.now(dt.UTC)
            )
        )


class SqlStore:
    """`check_timeout` bounds `version()` and `snapshot()`, the reads a `Flags` polls with."""

    def __init__(self, engine: Engine, check_timeout: float = DEFAULT_CHECK_TIMEOUT) -> None:
        self.engine = engine
        self.check_timeout = check_timeout

    def version(self) -> int:
        with bounded(self.engine, self.check_timeout) as conn:
            value = conn.scalar(
                sa.select(flag_versions.c.version).where(flag_versions.c.id == VERSION_ROW_ID)
            )
        return int(value or 0)

    def snapshot(self) -> Snapshot:
        # The version is read first: a write landing in between makes the next
        # version check reload, never the reverse (old states under a new version).
        version = self.version()
        query = (
            sa.select(
                flag_features.c.environment,
                flag_features.c.feature,
                flag_gates.c.gate,
                flag_gates.c.value,
            )
            .select_from(flag_features)
            .outerjoin(
                flag_gates,
                sa.and_(
                    flag_gates.c.environment == flag_features.c.environment,
                    flag_gates.c.feature == flag_features.c.feature,
                ),
            )
        )
        grouped: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        with bounded(self.engine, self.check_timeout) as conn:
            for row in conn.execute(query):
                rows = grouped[(row.environment, row.feature)]
                if row.gate is not None:
                    rows.append((row.gate, row.value))
        states: States = {}
        for (environment, feature), rows in grouped.items():
            states.setdefault(environment, {})[feature] = _rows_to_gates(rows)
        return Snapshot(version, states)

    @contextmanager
    def transaction(self) -> Iterator[_SqlTransaction]:
        with self.engine.connect() as conn:
            trans = conn.begin()
            try:
                # Bumping first takes the write lock (a row lock on PostgreSQL,
                # the database's reserved lock on SQLite): writers run one at a
                # time, so what a transaction reads stays true until it commits.
                bumped = conn.execute(
                    sa.update(flag_versions)
                    .where(flag_versions.c.id == VERSION_ROW_ID)
                    .values(version=flag_versions.c.version + 1)
                )
                if bumped.rowcount == 0:
                    conn.execute(sa.insert(flag_versions).values(id=VERSION_ROW_ID, version=1))
                tx = _SqlTransaction(conn)
                yield tx
            except BaseException:
                trans.rollback()
                raise
            if tx.dirty:
                trans.commit()
            else:
                trans.rollback()

    def recall(self, key: str) -> Any | None:
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(command_runs.c.result).where(command_runs.c.key == key))

    def remember(self, key: str, result: Any) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(command_runs).values(
                        key=key, result=result, created_at=dt.datetime.now(dt.UTC)
                    )
                )
        except sa.exc.IntegrityError:
            pass  # recorded before: the first record wins

    def purge_runs(self, before: dt.datetime, *, batch: int) -> int:
        """Forget up to `batch` remembered runs recorded before `before`; how many went.

        A run is remembered so a delivery run again replays it instead of running it
        twice: the caller picks `before` so no delivery that may still run is younger.
        """
        doomed = (
            sa.select(command_runs.c.key)
            .where(command_runs.c.created_at < before)
            .order_by(command_runs.c.created_at)
            .limit(batch)
        )
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.delete(command_runs).where(command_runs.c.key.in_(doomed.scalar_subquery()))
            )
        return result.rowcount

    def recorded_instance(self, environment: str) -> str | None:
        """Set by the bot (`record_instances`) for applications that share its database.

        A database that cannot answer now says nothing: an application starts on
        its defaults with the store down (see `flags.engine`) rather than not at all.
        """
        try:
            with bounded(self.engine, self.check_timeout) as conn:
                value = conn.scalar(
                    sa.select(flag_instances.c.instance).where(
                        flag_instances.c.environment == environment
                    )
                )
        except sa.exc.SQLAlchemyError:
            return None
        return None if value is None else str(value)

    def recorded_instances(self) -> dict[str, str]:
        """Every environment the bot records on a GitLab instance, with the instance."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(flag_instances)).all()
        return {str(row.environment): str(row.instance) for row in rows}

    def record_instances(self, instances: dict[str, str]) -> None:
        """Make the table say exactly which environments live on which instance."""
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            known = {
                row.environment: row.instance
                for row in conn.execute(sa.select(flag_instances)).all()
            }
            if known == instances:
                return
            conn.execute(sa.delete(flag_instances))
            if instances:
                conn.execute(
                    sa.insert(flag_instances),
                    [
                        {"environment": env, "instance": name, "updated_at": now}
                        for env, name in sorted(instances.items())
                    ],
                )

    def history(self, name: str | None = None, limit: int | None = None) -> list[AuditRecord]:
        query = sa.select(flag_audit).order_by(flag_audit.c.at.desc(), flag_audit.c.id.desc())
        if name is not None:
            query = query.where(flag_audit.c.feature == name)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [audit_record(row) for row in rows]


def audit_record(row: Any) -> AuditRecord:
    """A `flag_audit` row as the record it was written from."""
    return AuditRecord(
        id=row.id,
        at=_aware(row.at),
        environment=row.environment,
        flag=row.feature,
        action=row.action,
        gate=row.gate,
        before=row.before,
        after=row.after,
        who=row.who,
        source=row.source,
        user_id=row.user_id,
        delivery=row.delivery,
        command=row.command,
        instance=row.instance,
    )
