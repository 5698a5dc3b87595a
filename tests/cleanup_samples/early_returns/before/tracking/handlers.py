from flags.engine import Flags


def on_commit(flags: Flags, session, events):
    if not flags.enabled("product_intelligence_database_event_tracking"):
        # Nothing is sent while the flag is off.
        events.clear()
        return

    for event in events:
        session.send(event)


def on_rollback(flags: Flags, events):
    if flags.enabled("product_intelligence_database_event_tracking"):
        events.clear()
        return "dropped"
    else:
        return "kept"


def destination(flags: Flags, stage):
    if flags.enabled("product_intelligence_database_event_tracking", stage.group):
        return "snowplow"

    # Before the rollout every event went to the log.
    legacy = stage.legacy_sink
    return legacy or "log"


async def publish(flags, event, queue):
    if await flags.is_enabled("product_intelligence_database_event_tracking"):
        await queue.put(event)
