"""A rollout made through the real paths, for the dashboard's browser tests and screenshot.

Ticks through the fake GitLab and `/chatops run` comments (the bot's own worker runs
them), `rollout-bot feature set` from a terminal, and `group_stages` writes tracked by
an installed tracker that sends to a Snowplow collector on loopback between the steps,
so the flag page's chart has a ramp and the events it let through. Everything lands
in one database, which a `rollout-bot serve` then shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from flags.database import make_engine
from flags.definitions import configured_roots, load
from flags.engine import Flags
from flags.sql_store import SqlStore
from tests.bot_stack import FLAG, BotStack, bot_stack
from tests.conftest import DEFINITIONS
from tests.snowplow_collector import Collector
from tests.snowplow_collector.stack import FAST, new_stage
from tracking import GroupStage, install

ENVIRONMENT = "production"
DEFINITIONS_ENV = {"ROLLOUT_BOT_DEFINITIONS": str(DEFINITIONS)}
# A flag of the fixture definitions set on production while staging is off, with the
# override: the grid must single it out.
INCONSISTENT_FLAG = "comment_audit_log"
GROUPS = 40  # groups writing group_stages rows at every step
# Production's (effective percentage, actors or groups on) after each of its audit rows,
# as `_rollout` sets it: 25% of actors, 50%, a group enabled as an actor, then fully
# on, which writes three rows (the boolean on, then the actor and the percentage cleared).
PRODUCTION_RAMP = [(25, 0), (50, 0), (50, 1), (100, 1), (100, 0), (100, 0)]


@dataclass(frozen=True)
class Scene:
    database_url: str
    issue_url: str
    flag: str
    inconsistent_flag: str
    events_accepted: int  # by the collector, to cross-check the tracker's own counts


def make_scene(database_url: str) -> Scene:
    """Fill the (migrated) database at `database_url`; returns what the tests look for."""
    definitions = tuple(configured_roots(DEFINITIONS_ENV))
    with Collector() as collector, bot_stack(database_url, definitions=definitions) as stack:
        stack.env.update(DEFINITIONS_ENV)
        engine = make_engine(database_url)
        flags = Flags(SqlStore(engine), load(definitions), ENVIRONMENT)
        Session = sessionmaker(engine)
        tracker = install(
            Session, collector=collector.url, app_id="dashboard", flags=flags, settings=FAST
        )
        try:

            def write() -> None:
                flags.refresh()  # the state just set, not the cache's half-second-old one
                stages: list[GroupStage] = [new_stage(group_id=g) for g in range(1, GROUPS + 1)]
                with Session() as session:
                    session.add_all(stages)
                    session.commit()
                assert tracker.flush(10) == 0

            iid = stack.open_issue()
            _rollout(stack, iid, write)
            stack.cli(
                "feature", "set", INCONSISTENT_FLAG, "true",
                "--ignore-feature-flag-consistency-check",
            )  # fmt: skip
            stack.cli("feature", "set", "snowplow_sender_batching", "10", "--random", "--staging")
            stack.wait_updates()
        finally:
            tracker.close(5)
            engine.dispose()
        issue_url = stack.fake.issue_json(stack.project, iid)["web_url"]
        accepted = len(collector.accepted())
        assert collector.errors == []
    return Scene(database_url, issue_url, FLAG, INCONSISTENT_FLAG, accepted)


def _comment(stack: BotStack, iid: int, command: str) -> None:
    stack.fake.add_note_as(stack.alice, stack.project, iid, f"/chatops run {command}")
    stack.wait_updates()


def _rollout(stack: BotStack, iid: int, write: Callable[[], None]) -> None:
    write()  # off everywhere: nothing is sent
    stack.tick(stack.alice, iid, "enable-non-production-command")
    stack.wait_updates()
    _comment(stack, iid, f"feature set {FLAG} 25 --actors")
    write()
    stack.cli("feature", "set", FLAG, "50", "--actors")  # from a terminal
    stack.wait_updates()
    write()
    _comment(stack, iid, f"feature set --group=gitlab-org {FLAG} true")
    write()
    stack.tick(stack.alice, iid, "enable-production-command")
    stack.wait_updates()
    write()
