from flags.engine import Flags


def context(flags: Flags, user):
    tracking = flags.enabled("product_intelligence_database_event_tracking", user)
    history = flags.enabled("ai_chat_history_context", user)
    return {"tracking": tracking, "history": history and user.consented}
