from flags.engine import Flags


def context(flags: Flags, user):
    history = flags.enabled("ai_chat_history_context", user)
    return {"tracking": True, "history": history and user.consented}
