"""`auto_deploy status` and `release check`: from the CLI and from their checkboxes."""

from __future__ import annotations

from click.testing import CliRunner

from rollout_bot.cli import main
from tests.bot_stack import BotStack, bot_stack


def seed(stack: BotStack) -> tuple[str, str]:
    """Two commits on main: the feature commit and a later one."""
    first = stack.fake.seed_repository(stack.project, {"app.py": "print('v1')\n"})
    second = stack.fake.seed_repository(stack.project, {"app.py": "print('v2')\n"})
    return first.id, second.id


def test_auto_deploy_status_per_environment(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        first, second = seed(stack)
        stack.fake.deploy(stack.project, "gstg", second)
        stack.fake.deploy(stack.project, "gprd", first)
        stack.fake.deploy(stack.project, "gprd-cny", first, status="failed")
        out = stack.cli("auto-deploy", "status", second[:8], "--project", "gitlab-org/gitlab")
        assert f"| gstg | {second[:11]} (main" in out and "| yes |" in out
        assert f"| gprd | {first[:11]} (main" in out and "| no |" in out
        assert "gprd-cny" not in out  # no successful deployment there
        out = stack.cli("auto-deploy", "status", first[:8], "--project", "gitlab-org/gitlab")
        assert out.count("| yes |") == 2

        iid = stack.open_issue("--sha", second[:8])
        stack.tick(stack.dave, iid, "deployed-non-production-command")
        stack.wait_idle()
        note = stack.bot_notes(iid)[-1]
        assert f"ran `/chatops run auto_deploy status {second[:8]}`" in note
        assert "| gstg |" in note and "| yes |" in note
        assert stack.checked(iid, "deployed-non-production-command")


def test_auto_deploy_status_of_an_unknown_commit_is_refused(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        seed(stack)
        result = CliRunner(env=stack.env).invoke(
            main, ["auto-deploy", "status", "deadbeef", "--project", "gitlab-org/gitlab"]
        )
        assert result.exit_code == 1
        assert "commit deadbeef is not in gitlab-org/gitlab" in result.stderr


def test_release_check(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        seed(stack)
        stack.fake.create_branch(stack.project, "feature", "main")
        stack.fake.commit_as(
            stack.alice,
            stack.project,
            "feature",
            [{"action": "update", "file_path": "app.py", "content": "print('v3')\n"}],
            "Ship it",
        )
        mr = stack.fake.create_merge_request_as(
            stack.alice, stack.project, "feature", "main", "Ship it"
        )
        url = f"{stack.fake.web_url}/gitlab-org/gitlab/-/merge_requests/{mr.iid}"
        result = CliRunner(env=stack.env).invoke(main, ["release", "check", url, "17.3"])
        assert result.exit_code == 1 and "is not merged yet" in result.stdout

        merged = stack.fake.merge_as(stack.alice, stack.project, mr.iid)
        commit = merged.merge_commit_sha or merged.sha
        assert commit is not None
        stack.fake.create_tag(stack.project, "v17.2.0", commit)
        result = CliRunner(env=stack.env).invoke(main, ["release", "check", url, "17.3"])
        assert result.exit_code == 1 and "is not in any 17.3 tag yet" in result.stdout
        stack.fake.create_tag(stack.project, "v17.3.0-ee", commit)
        result = CliRunner(env=stack.env).invoke(main, ["release", "check", url, "17.3"])
        assert result.exit_code == 0
        assert (
            f"gitlab-org/gitlab!{mr.iid} (merge commit {commit[:11]}) is released in 17.3: "
            "v17.3.0-ee." in result.stdout
        )

        iid = stack.open_issue()
        stack.edit(
            stack.alice,
            iid,
            "release check <merge-request-url> <milestone>`\n",
            f"release check {url} 17.3`\n",
        )
        stack.tick(stack.dave, iid, "default-enabling-released-command")
        stack.wait_idle()
        assert "is released in 17.3: v17.3.0-ee" in stack.bot_notes(iid)[-1]


def test_release_check_refuses_bad_input(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        result = CliRunner(env=stack.env).invoke(
            main, ["release", "check", "https://x/nope", "17.3"]
        )
        assert result.exit_code == 1 and "is not a merge request URL" in result.stderr
        result = CliRunner(env=stack.env).invoke(
            main, ["release", "check", "https://x/g/p/-/merge_requests/1", "soon"]
        )
        assert result.exit_code == 1 and "is not a milestone such as 17.3" in result.stderr
