def run(flags, stage):
    stage.sync()
