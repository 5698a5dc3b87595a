def legacy_export(data, path):
    return path


def legacy_path():
    return "/tmp"


def legacy_report(stage, interval):
    return stage


def normalize(stage):
    return dict(stage)
