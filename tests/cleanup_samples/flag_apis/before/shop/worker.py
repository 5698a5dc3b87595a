from flags.engine import Flags

from shop.names import TRACKING


def drain(flags: Flags, queue):
    # A kill switch: turning the flag off stops the loop.
    while flags.enabled(TRACKING):
        queue.process_one()
    if flags.enabled(TRACKING):
        queue.close()
