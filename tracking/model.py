"""`GroupStage`, and what any model declares to have its rows tracked.

Mirrors GitLab's `DatabaseEventTracking` concern: a model lists the attributes
that may leave the database (`SNOWPLOW_ATTRIBUTES`); nothing else is sent.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tracking.schema import BigIntegerKey, metadata


class Base(DeclarativeBase):
    metadata = metadata


class DatabaseEventTracking:
    """Mixin for a mapped class whose creates, updates and destroys are tracked.

    `SNOWPLOW_ATTRIBUTES` is the allow-list copied into the context's `extra`.
    `SNOWPLOW_GROUP_ATTRIBUTE` names the attribute holding the row's group id:
    the flag is read for actor `Group:<id>` and the id is the context's
    `namespace_id`. None means the flag is read without an actor.
    """

    SNOWPLOW_ATTRIBUTES: ClassVar[tuple[str, ...]] = ()
    SNOWPLOW_GROUP_ATTRIBUTE: ClassVar[str | None] = "group_id"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class GroupStage(DatabaseEventTracking, Base):
    """A value stream stage of a group (GitLab's `analytics_cycle_analytics_group_stages`).

    Timestamps are set in Python, not by the server, so the values an event
    carries are known at flush without reading the row back. `active_history`
    loads an expired value before it is overwritten, so assigning the value a
    column already has is seen as no change (no UPDATE, no event), as in Rails.
    """

    __tablename__ = "group_stages"
    __table_args__ = (
        sa.UniqueConstraint(
            "group_id", "group_value_stream_id", "name", name="uq_group_stages_group_stream_name"
        ),
    )

    SNOWPLOW_ATTRIBUTES = (
        "id",
        "created_at",
        "updated_at",
        "relative_position",
        "start_event_identifier",
        "end_event_identifier",
        "group_id",
        "start_event_label_id",
        "end_event_label_id",
        "hidden",
        "custom",
        "name",
        "group_value_stream_id",
    )

    id: Mapped[int] = mapped_column(BigIntegerKey, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now, active_history=True
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), default=_now, onupdate=_now, active_history=True
    )
    relative_position: Mapped[int | None] = mapped_column(sa.Integer, active_history=True)
    start_event_identifier: Mapped[int] = mapped_column(sa.Integer, active_history=True)
    end_event_identifier: Mapped[int] = mapped_column(sa.Integer, active_history=True)
    group_id: Mapped[int] = mapped_column(sa.BigInteger, index=True, active_history=True)
    start_event_label_id: Mapped[int | None] = mapped_column(sa.BigInteger, active_history=True)
    end_event_label_id: Mapped[int | None] = mapped_column(sa.BigInteger, active_history=True)
    hidden: Mapped[bool] = mapped_column(
        sa.Boolean, default=False, server_default=sa.false(), active_history=True
    )
    custom: Mapped[bool] = mapped_column(
        sa.Boolean, default=True, server_default=sa.true(), active_history=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), active_history=True)
    group_value_stream_id: Mapped[int] = mapped_column(sa.BigInteger, active_history=True)
