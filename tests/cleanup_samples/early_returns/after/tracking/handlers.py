from flags.engine import Flags


def on_commit(flags: Flags, session, events):
    for event in events:
        session.send(event)


def on_rollback(flags: Flags, events):
    events.clear()
    return "dropped"


def destination(flags: Flags, stage):
    return "snowplow"


async def publish(flags, event, queue):
    await queue.put(event)
