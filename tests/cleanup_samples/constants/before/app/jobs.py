from app import flag_names


def run(flags, stage):
    if not flags.enabled(flag_names.TRACKING):
        return
    stage.sync()
