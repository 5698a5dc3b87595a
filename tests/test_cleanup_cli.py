"""`rollout-bot cleanup check` and `cleanup rewrite` on local checkouts; `cleanup mr`'s
refusal for a flag not fully on in production, and `--force`, against the fake GitLab."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitlab_ops import fully_on
from rollout_bot.cli import main
from tests.conftest import DEFINITIONS
from tests.fake_gitlab import MAINTAINER, FakeGitLab, Project
from tests.terminal import run_on_terminal


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_definitions_without_code_are_all_unused(tmp_path: Path) -> None:
    shutil.copytree(DEFINITIONS, tmp_path / "config" / "feature_flags")
    code, out = invoke("cleanup", "check", "--root", str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "0 used, 11 unused, 0 undefined"
    unused = [line for line in lines[1:] if "is defined but never referenced" in line]
    assert len(unused) == 11 == len(lines) - 1
    assert (
        "config/feature_flags/development/webhook_fast_ack.yml:1: "
        "feature flag `webhook_fast_ack` is defined but never referenced" in lines
    )


def test_used_and_undefined(tmp_path: Path) -> None:
    definitions = tmp_path / "config" / "feature_flags" / "ops"
    definitions.mkdir(parents=True)
    shutil.copy(DEFINITIONS / "ops" / "inbox_retention_purge.yml", definitions)
    (tmp_path / "app.py").write_text(
        'def run(flags):\n    if flags.enabled("inbox_retention_purge"):\n        return 1\n'
        '    return flags.enabled("typo_flag")\n'
    )
    code, out = invoke("cleanup", "check", "--root", str(tmp_path))
    assert code == 1
    assert out.splitlines() == [
        "1 used, 0 unused, 1 undefined",
        "app.py:4: feature flag `typo_flag` is evaluated but not defined",
    ]


def test_rewrite_edits_in_place_and_reports_leftovers(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "def view(flags, name):\n"
        '    if flags.enabled("my_flag"):\n'
        '        return "new"\n'
        '    return "old"\n'
    )
    dynamic = tmp_path / "dynamic.py"
    dynamic.write_text('def check(flags):\n    return flags.enabled("my_" + "flag")\n')
    code, out = invoke("cleanup", "rewrite", "my_flag", str(tmp_path))
    assert code == 0
    assert app.read_text() == 'def view(flags, name):\n    return "new"\n'
    assert f"rewrote {app}" in out
    assert dynamic.read_text() == 'def check(flags):\n    return flags.enabled("my_" + "flag")\n'
    code, out = invoke("cleanup", "rewrite", "my_flag", str(app))
    assert out.strip() == "nothing to rewrite"


# -- `cleanup mr`: only for a flag on for everyone in production, unless --force --------------

FLAG = "product_intelligence_database_event_tracking"  # defined in config/, default off
ON_BY_DEFAULT = "always_on_flag"
PROJECT = "gitlab-org/gitlab"


@dataclass
class Cli:
    env: dict[str, str]
    fake: FakeGitLab
    project: Project

    def run(self, *args: str) -> Result:
        return CliRunner(env=self.env).invoke(main, list(args), catch_exceptions=False)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.exit_code == 0, result.output + result.stderr
        return result.stdout


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str, fake_gitlab: FakeGitLab) -> Cli:
    definitions = tmp_path / "definitions" / "beta"
    definitions.mkdir(parents=True)
    (definitions / f"{ON_BY_DEFAULT}.yml").write_text(
        f"---\nname: {ON_BY_DEFAULT}\ntype: beta\ngroup: group::x\ndefault_enabled: true\n"
    )
    bot = fake_gitlab.create_user("rollout-bot")
    project = fake_gitlab.create_project(fake_gitlab.create_group("gitlab-org"), "gitlab")
    fake_gitlab.add_member(project, bot, MAINTAINER)
    files: dict[str, str | bytes | None] = {}
    for name, kind in ((FLAG, "development"), (ON_BY_DEFAULT, "beta")):
        files[f"config/feature_flags/{kind}/{name}.yml"] = f"---\nname: {name}\n"
        files[f"app/{name}.py"] = f'def f(flags):\n    return flags.enabled("{name}")\n'
    fake_gitlab.seed_repository(project, files)
    env = {
        "ROLLOUT_BOT_DATABASE_URL": sqlite_url,
        "ROLLOUT_BOT_DEFINITIONS": str(tmp_path / "definitions"),
        "ROLLOUT_BOT_GITLAB_URL": fake_gitlab.url,
        "ROLLOUT_BOT_GITLAB_TOKEN": bot.token,
    }
    return Cli(env, fake_gitlab, project)


def on_staging(cli: Cli) -> None:
    cli.ok("feature", "set", FLAG, "true", "--dev", "--staging", "--staging-ref")


@pytest.mark.parametrize(
    ("setup", "state"),
    [
        (["feature set {flag} false"], fully_on.OFF),
        (
            ["feature set {flag} 25 --actors", "feature set {flag} true --project=7"],
            fully_on.PARTLY_ON.format(gates="actors: Project:7; percentage_of_actors: 25%"),
        ),
        ([], fully_on.NEVER_SET_OFF),
    ],
    ids=["off", "partly-on", "never-set-default-off"],
)
def test_cleanup_mr_is_refused_unless_fully_on(cli: Cli, setup: list[str], state: str) -> None:
    on_staging(cli)
    for line in setup:
        cli.ok(*line.format(flag=FLAG).split())
    result = cli.run("cleanup", "mr", FLAG, "--project", PROJECT)
    assert result.exit_code == 1
    reason = fully_on.NOT_FULLY_ON.format(flag=FLAG, state=state, project=PROJECT)
    assert result.stderr == f"error: {reason}\n"
    assert f"rollout-bot cleanup mr {FLAG} --project {PROJECT} --force" in reason
    assert not cli.fake.requests_to("GET", r"/repository/archive")
    assert not cli.project.merge_requests


@pytest.mark.parametrize(
    ("flag", "setup"),
    [(FLAG, [f"feature set {FLAG} true"]), (ON_BY_DEFAULT, [])],
    ids=["boolean-on", "never-set-default-on"],
)
def test_cleanup_mr_opens_for_a_fully_on_flag(cli: Cli, flag: str, setup: list[str]) -> None:
    on_staging(cli)
    for line in setup:
        cli.ok(*line.split())
    out = cli.ok("cleanup", "mr", flag, "--project", PROJECT)
    (mr,) = cli.project.merge_requests.values()
    assert out == f"opened {cli.fake.web_url}/{PROJECT}/-/merge_requests/{mr.iid}\n"
    assert mr.title == f"[Feature flag] Cleanup `{flag}`"


def test_cleanup_mr_draws_progress_only_on_a_terminal(cli: Cli) -> None:
    cli.ok("feature", "set", FLAG, "true", "--dev", "--staging", "--staging-ref", "--production")
    piped = cli.run("cleanup", "mr", FLAG, "--project", PROJECT)
    (mr,) = cli.project.merge_requests.values()
    assert piped.exit_code == 0 and piped.stderr == ""
    assert piped.stdout == f"opened {cli.fake.web_url}/{PROJECT}/-/merge_requests/{mr.iid}\n"
    shown = run_on_terminal(["cleanup", "mr", ON_BY_DEFAULT, "--project", PROJECT], cli.env)
    assert shown.code == 0 and shown.stdout.startswith(f"opened {cli.fake.web_url}/{PROJECT}/")
    assert f"planning the removal of {ON_BY_DEFAULT}" in shown.terminal
    assert "100%" in shown.terminal


def test_force_opens_it_for_a_flag_that_is_off(cli: Cli) -> None:
    cli.ok("feature", "set", FLAG, "false")
    assert cli.run("cleanup", "mr", FLAG, "--project", PROJECT).exit_code == 1
    out = cli.ok("cleanup", "mr", FLAG, "--project", PROJECT, "--force")
    assert out.startswith("opened ")
    (mr,) = cli.project.merge_requests.values()
    assert cli.fake.read_file(cli.project, f"app/{FLAG}.py", mr.source_branch) == (
        "def f(flags):\n    return True\n"
    )


def test_rewrite_of_named_files_follows_the_projects_declaration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.rollout-bot]\nflag-apis = ["app.features.is_on"]\n'
    )
    app = tmp_path / "app.py"
    app.write_text(
        "from app.features import is_on\n\n"
        'def run():\n    if is_on("my_flag"):\n        return 1\n    return 0\n'
    )
    monkeypatch.chdir(tmp_path)
    code, out = invoke("cleanup", "rewrite", "my_flag", "app.py")
    assert code == 0, out
    assert "rewrote app.py" in out
    assert 'is_on("my_flag")' not in app.read_text()
    assert "return 1" in app.read_text()
