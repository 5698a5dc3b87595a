"""End to end: tick the cleanup step, check the MR in CI, merge, finish in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from gitlab_ops.finish import FINISHED_STEPS
from gitlab_ops.fully_on import NOT_FULLY_ON, PARTLY_ON
from gitlab_ops.merge_requests import cleanup_branch
from tests.bot_stack import FLAG, BotStack, bot_stack

REPO = Path(__file__).resolve().parent.parent
CI_FILE = REPO / "ci" / "feature-flag-cleanup.gitlab-ci.yml"
DEFINITION = f"config/feature_flags/development/{FLAG}.yml"
OWN_DEFINITION = (REPO / DEFINITION).read_text()
OTHER = "config/feature_flags/beta/other_flag.yml"

TRACKING_BEFORE = f'''"""Sends events while the flag is on."""

from flags import Flags

FLAG = "{FLAG}"


def track(flags: Flags, group_id: int) -> str:
    # Only groups in the rollout get events.
    if flags.enabled(FLAG, f"Group:{{group_id}}"):
        return "sent"
    return "skipped"
'''
TRACKING_AFTER = '''"""Sends events while the flag is on."""

from flags import Flags


def track(flags: Flags, group_id: int) -> str:
    # Only groups in the rollout get events.
    return "sent"
'''
OTHER_PY = """def other(flags) -> bool:
    return flags.enabled("other_flag")
"""
FILES = {
    DEFINITION: OWN_DEFINITION,
    OTHER: OWN_DEFINITION.replace(FLAG, "other_flag").replace("development", "beta"),
    "app/tracking.py": TRACKING_BEFORE,
    "app/other.py": OTHER_PY,
    "README.md": "# sample\n",
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def write_tree(root: Path, files: dict[str, str | None]) -> None:
    for path, text in files.items():
        target = root / path
        if text is None:
            target.unlink()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def job_script(name: str) -> list[str]:
    jobs = yaml.safe_load(CI_FILE.read_text())
    script: list[str] = jobs[name]["script"]
    return script


def run_job(name: str, root: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    merged = {**os.environ, **env, "PATH": path}
    script = "set -e\n" + "\n".join(job_script(name))
    return subprocess.run(
        ["bash", "-c", script], cwd=root, env=merged, capture_output=True, text=True
    )


def local_checkout(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "checkout"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    write_tree(root, dict(FILES))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Initial commit")
    return root, git(root, "rev-parse", "HEAD")


def mirror_branch(stack: BotStack, root: Path, branch: str) -> str:
    """The fake's branch as a local branch: same files, same commit message."""
    repository = stack.fake.repository(stack.project)
    head = repository.resolve(branch)
    git(root, "checkout", "-q", "-b", branch, "main")
    files = {p: stack.fake.read_file(stack.project, p, branch) for p in FILES}
    write_tree(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", head.message)
    return git(root, "rev-parse", "HEAD")


def test_the_cleanup_from_tick_to_finish(database_url: str, tmp_path: Path) -> None:
    with bot_stack(database_url) as stack:
        stack.fake.seed_repository(stack.project, dict(FILES))
        iid = stack.open_issue()
        stack.cli("feature", "set", FLAG, "true", "--dev", "--staging", "--staging-ref")
        stack.cli("feature", "set", FLAG, "true")

        stack.tick(stack.dave, iid, "cleanup-mr")
        stack.wait_idle()
        branch = cleanup_branch(FLAG)
        (mr,) = stack.project.merge_requests.values()
        assert mr.title == f"[Feature flag] Cleanup `{FLAG}`"
        assert mr.source_branch == branch and mr.target_branch == "main"
        issue_url = stack.fake.issue_json(stack.project, iid)["web_url"]
        assert f"Rollout issue: {issue_url}" in mr.description
        assert stack.fake.read_file(stack.project, DEFINITION, branch) is None
        assert stack.fake.read_file(stack.project, "app/tracking.py", branch) == TRACKING_AFTER
        assert stack.fake.read_file(stack.project, "app/other.py", branch) == OTHER_PY
        # Planned from one archive of the default branch, not read file by file.
        assert len(stack.fake.requests_to("GET", r"/repository/archive")) == 1
        assert not stack.fake.requests_to("GET", r"/repository/(files|tree)")
        note = stack.bot_notes(iid)[-1]
        mr_url = f"{stack.fake.web_url}/gitlab-org/gitlab/-/merge_requests/{mr.iid}"
        assert f"Opened merge request [[Feature flag] Cleanup `{FLAG}`]({mr_url})" in note

        # Ticking again reuses the branch and the merge request.
        stack.tick(stack.dave, iid, "cleanup-mr", checked=False)
        stack.tick(stack.dave, iid, "cleanup-mr")
        stack.wait_idle()
        assert "Reused the open merge request" in stack.bot_notes(iid)[-1]
        assert list(stack.project.merge_requests) == [mr.iid]

        # CI on the merge request's branch: green.
        root, base = local_checkout(tmp_path)
        mirror_branch(stack, root, branch)
        check = run_job("feature-flag-cleanup", root, {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})
        assert check.returncode == 0, check.stdout + check.stderr
        assert "1 used, 0 unused, 0 undefined, 1 removed" in check.stdout

        # A branch that leaves a reference: red, with that file and line.
        git(root, "checkout", "-q", "-b", "careless", branch)
        (root / "app" / "left.py").write_text(f'print("{FLAG}")\n')
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "More\n\nChangelog: removed")
        red = run_job("feature-flag-cleanup", root, {"CI_MERGE_REQUEST_DIFF_BASE_SHA": base})
        assert red.returncode == 1
        assert f"app/left.py:1: feature flag `{FLAG}` was removed but is still referenced" in (
            red.stdout
        )

        # Merge, then the finish job on the default branch.
        stack.fake.merge_as(stack.alice, stack.project, mr.iid)
        git(root, "checkout", "-q", "main")
        git(root, "merge", "-q", "--no-ff", "-m", "Merge the cleanup", branch)
        finish = run_job(
            "feature-flag-cleanup-finish", root, {**stack.env, "CI_COMMIT_BEFORE_SHA": base}
        )
        assert finish.returncode == 0, finish.stdout + finish.stderr
        for env in ("dev", "staging", "staging-ref", "production"):
            assert stack.state(env) is None
        assert all(stack.checked(iid, step) for step in FINISHED_STEPS)
        assert stack.fake.issue(stack.project, iid).state == "closed"
        again = run_job(
            "feature-flag-cleanup-finish", root, {**stack.env, "CI_COMMIT_BEFORE_SHA": base}
        )
        assert again.returncode == 0 and "already closed" in again.stdout


def test_the_ci_file_defines_both_jobs() -> None:
    jobs = yaml.safe_load(CI_FILE.read_text())
    check, finish = jobs["feature-flag-cleanup"], jobs["feature-flag-cleanup-finish"]
    assert check["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert check["script"] == ['rollout-bot cleanup check --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA"']
    assert finish["rules"][0]["if"] == (
        '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $CI_PIPELINE_SOURCE == "push"'
    )
    assert "config/feature_flags/**/*" in finish["rules"][0]["changes"]
    assert finish["script"] == [
        'rollout-bot cleanup finish --deleted-since "$CI_COMMIT_BEFORE_SHA"'
    ]
    for job in (check, finish):
        assert job["extends"] == ".rollout-bot"
    assert jobs[".rollout-bot"]["variables"]["GIT_DEPTH"] == "0"


def test_the_default_enable_step_opens_a_one_line_mr(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        stack.fake.seed_repository(stack.project, dict(FILES))
        iid = stack.open_issue()
        stack.tick(stack.dave, iid, "default-enabling-mr")
        stack.wait_idle()
        (mr,) = stack.project.merge_requests.values()
        assert mr.title == f"[Feature flag] Enable `{FLAG}` by default"
        edited = stack.fake.read_file(stack.project, DEFINITION, mr.source_branch)
        assert edited == OWN_DEFINITION.replace("default_enabled: false", "default_enabled: true")
        assert "Opened merge request" in stack.bot_notes(iid)[-1]


def test_the_default_enable_step_is_refused_for_a_wip_flag(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        wip = OWN_DEFINITION.replace("type: development", "type: wip")
        stack.fake.seed_repository(
            stack.project, {f"config/feature_flags/wip/{FLAG}.yml": wip, "app.py": "x = 1\n"}
        )
        iid = stack.open_issue()
        stack.tick(stack.dave, iid, "default-enabling-mr")
        stack.wait_idle()
        assert not stack.project.merge_requests
        assert "is a wip flag, which cannot be default-enabled" in stack.bot_notes(iid)[-1]
        assert not stack.checked(iid, "default-enabling-mr")


def test_the_cleanup_step_is_refused_while_the_flag_is_partly_on(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        stack.fake.seed_repository(stack.project, dict(FILES))
        iid = stack.open_issue()
        stack.cli("feature", "set", FLAG, "true", "--dev", "--staging", "--staging-ref")
        stack.cli("feature", "set", FLAG, "50", "--actors")

        stack.tick(stack.dave, iid, "cleanup-mr")
        stack.wait_idle()
        assert not stack.project.merge_requests
        assert not stack.checked(iid, "cleanup-mr")
        assert not stack.fake.requests_to("GET", r"/repository/archive")
        note = stack.bot_notes(iid)[-1]
        state = PARTLY_ON.format(gates="percentage_of_actors: 50%")
        reason = NOT_FULLY_ON.format(flag=FLAG, state=state, project="gitlab-org/gitlab")
        assert f"refused, {reason}." in note
        assert "The box was unticked again" in note

        # Fully on, the same tick opens it: a tick never forces, it waits for production.
        stack.cli("feature", "set", FLAG, "true")
        stack.tick(stack.dave, iid, "cleanup-mr")
        stack.wait_idle()
        (mr,) = stack.project.merge_requests.values()
        assert mr.title == f"[Feature flag] Cleanup `{FLAG}`"
        assert "Opened merge request" in stack.bot_notes(iid)[-1]
        assert stack.checked(iid, "cleanup-mr")
