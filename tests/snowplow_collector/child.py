"""A process that commits tracked rows and then waits to be killed.

    python -m tests.snowplow_collector.child DATABASE_URL COLLECTOR_URL COUNT

It installs a tracker as an application would, commits COUNT rows one per
transaction while its sender tries the collector, prints `committed COUNT`
and sleeps until the test kills it.
"""

from __future__ import annotations

import dataclasses
import sys
import time

from sqlalchemy.orm import sessionmaker

from flags.database import make_engine
from flags.definitions import configured_roots, load
from flags.engine import Flags
from flags.sql_store import SqlStore
from tests.snowplow_collector.stack import APP_ID, ENVIRONMENT, FAST, new_stage
from tracking import install


def main(database_url: str, collector: str, count: int) -> None:
    engine = make_engine(database_url)
    flags = Flags(SqlStore(engine), load(configured_roots()), ENVIRONMENT)
    Session = sessionmaker(engine)
    # A short lease: the test's restarted sender waits for it to run out.
    settings = dataclasses.replace(FAST, lease=1.0)
    install(Session, collector=collector, app_id=APP_ID, flags=flags, settings=settings)
    for i in range(count):
        with Session() as session:
            session.add(new_stage(group_id=1, name=f"child {i}"))
            session.commit()
    print(f"committed {count}", flush=True)
    time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
