from flags.engine import Flags

TRACKING = "product_intelligence_database_event_tracking"
CHAT_HISTORY = "ai_chat_history_context"


def checkout(flags: Flags, user, cart):
    steps = ["pay"]
    if flags.enabled(TRACKING, user) and flags.enabled(CHAT_HISTORY, user):
        steps.append("history")
    elif flags.enabled(TRACKING, user):
        steps.append("tracking")
    if not flags.enabled(TRACKING, user) or flags.enabled("ai_chat_history_context"):
        steps.append("summary")
    return steps
