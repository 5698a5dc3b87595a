from flags.engine import Flags
from app.legacy import (
    normalize,
)


def report(flags: Flags, stage):
    return normalize(stage)
