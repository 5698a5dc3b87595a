from app.flag_names import CHAT_HISTORY
from flags.engine import Flags


def show(flags: Flags, user):
    blocks = ["stages"]
    blocks.append("tracking")
    if flags.enabled(CHAT_HISTORY, user):
        blocks.append("chat")
    return blocks
