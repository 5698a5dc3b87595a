from flags.engine import Flags

CHAT_HISTORY = "ai_chat_history_context"


def checkout(flags: Flags, user, cart):
    steps = ["pay"]
    if flags.enabled(CHAT_HISTORY, user):
        steps.append("history")
    else:
        steps.append("tracking")
    if flags.enabled("ai_chat_history_context"):
        steps.append("summary")
    return steps
