"""What opening the cleanup merge request costs on a monorepo: one archive against file by file.

Run as ``.venv/bin/python bench/cleanup_mr.py`` from anywhere; it takes a few
minutes, nearly all of them in the anchor.

A generated repository of ``FILES`` files (Python, Ruby, JavaScript, YAML,
Markdown and some binary images) is seeded in the tests' fake GitLab, served
on loopback; python-gitlab talks HTTP to it for real. ``REFERENCING`` of the
files reference the flag: its definition, a module binding a constant to the
flag's name, files checking the flag by its name, and files checking it
through that constant imported from the other module (the codemod must follow
it, so it needs every file, not only those spelling the name).

Two contenders open the same cleanup merge request on the same commit, in the
same run, each from a fresh ``Repository`` as the bot makes one per delivery:

* **archive** (ours): ``open_cleanup`` as the bot and the CLI run it: the
  default branch's head commit, that commit's tar.gz archive in one request,
  the plan, the commit (started from that same commit) and the merge request.
* **per_file** (the anchor): the algorithm it replaced, kept here: list the
  tree (``repository_tree``, 100 entries a page), read every text file with one
  ``files.raw`` call each, then the same plan, commit and merge request.

Between the two the fake itself closes the merge request and deletes the branch
(no API call). Calls are counted at the fake, from its request log, inside each
contender's window; seconds are wall-clock for the whole open. The plan alone
is timed once beforehand (it also warms libcst up, for both). Targets: archive
calls <= 10, and per_file seconds / archive seconds >= 20. The script never
fails on timing; it exits non-zero when a sanity check fails: both contenders
must plan the same change, rewriting every file that checks the flag. The last
line printed is one JSON object with every figure and ratio.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flags.removal import RemovalPlan, plan
from flags.results import EnvironmentState
from flags.state import ON
from gitlab_ops import merge_requests
from gitlab_ops.client import GitLab
from gitlab_ops.merge_requests import (
    FEATURE_FLAG_LABEL,
    TEXT_SUFFIXES,
    cleanup_branch,
    cleanup_description,
    cleanup_title,
)
from gitlab_ops.repository import Repository

if TYPE_CHECKING:
    from tests.fake_gitlab import FakeGitLab, Project, User

REPO = Path(__file__).resolve().parent.parent

FILES = 20_000
REFERENCING = 50
LITERAL_CHECKS = 28  # files spelling the flag's name
CONSTANT_CHECKS = REFERENCING - LITERAL_CHECKS - 2  # besides the definition and the constant
BINARIES = 1_000
FLAG = "bench_monorepo_flag"
PROJECT = "gitlab-org/monorepo"
TARGET_CALLS = 10
TARGET_SPEEDUP = 20.0

PY = '''"""Module {n} of the {area} area."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Record{n}:
    id: int
    name: str
    weight: float = 1.0

    def score(self, factor: float) -> float:
        total = 0.0
        for step in range(3):
            total += self.weight * factor * (step + 1)
        return total


def load_{n}(rows: list[dict[str, object]]) -> list[Record{n}]:
    """Rows from the {area} table, skipping those without a name."""
    return [Record{n}(int(str(r["id"])), str(r["name"])) for r in rows if r.get("name")]
'''
RB = """# frozen_string_literal: true

module {Area}
  class Worker{n}
    include ApplicationWorker

    def perform(id)
      record = Record.find_by(id: id)
      return unless record

      record.touch
    end
  end
end
"""
JS = """export function render{n}(items) {{
  return items.filter((item) => item.visible).map((item) => `<li>${{item.name}}</li>`).join('');
}}
"""
YML = "---\nname: setting_{n}\narea: {area}\nvalues:\n  - one\n  - two\n"
MD = "# {Area} note {n}\n\nHow the {area} area handles case {n}.\n"
CONSTANT_MODULE = "app/flags/names.py"
NAMES = f'"""Flag names, imported where they are checked."""\n\nMONOREPO_FLAG = "{FLAG}"\n'
LITERAL = f'''"""Checks the flag by its name."""


def handle_{{n}}(flags, group_id: int) -> str:
    if flags.enabled("{FLAG}", f"Group:{{{{group_id}}}}"):
        return "new path"
    return "old path"
'''
THROUGH_CONSTANT = '''"""Checks the flag through the constant."""

from app.flags.names import MONOREPO_FLAG


def handle_{n}(flags) -> str:
    if flags.enabled(MONOREPO_FLAG):
        return "new path"
    return "old path"
'''
DEFINITION = f"---\nname: {FLAG}\ntype: development\ngroup: group::bench\ndefault_enabled: false\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def generate() -> tuple[dict[str, str | bytes | None], list[str]]:
    """The repository's files, and the paths that check the flag."""
    files: dict[str, str | bytes | None] = {
        f"config/feature_flags/development/{FLAG}.yml": DEFINITION,
        CONSTANT_MODULE: NAMES,
    }
    checks: list[str] = []
    for n in range(LITERAL_CHECKS):
        path = f"app/services/flagged/literal_{n}.py"
        files[path] = LITERAL.format(n=n)
        checks.append(path)
    for n in range(CONSTANT_CHECKS):
        path = f"app/services/flagged/constant_{n}.py"
        files[path] = THROUGH_CONSTANT.format(n=n)
        checks.append(path)
    kinds: list[tuple[str, str]] = [("py", PY)] * 12 + [
        ("rb", RB),
        ("rb", RB),
        ("js", JS),
        ("yml", YML),
        ("md", MD),
    ]
    areas = ["billing", "ci", "groups", "issues", "search", "security", "users", "wiki"]
    n = 0
    while len(files) < FILES - BINARIES:
        ext, template = kinds[n % len(kinds)]
        area = areas[n % len(areas)]
        folder = {"py": "app", "rb": "ee/app", "js": "frontend", "yml": "config", "md": "doc"}
        path = f"{folder[ext]}/{area}/part_{n // 500}/file_{n}.{ext}"
        files[path] = template.format(n=n, area=area, Area=area.capitalize())
        n += 1
    for b in range(BINARIES):
        files[f"public/images/{areas[b % len(areas)]}/image_{b}.png"] = PNG + b.to_bytes(4, "big")
    return files, checks


def read_file_by_file(repo: Repository) -> dict[str, str]:
    """The anchor: `_read_repository` as it was, one call per file."""
    files: dict[str, str] = {}
    for path in repo.tree(repo.default_branch):
        if any(path.endswith(suffix) for suffix in TEXT_SUFFIXES):
            text = repo.read(path, repo.default_branch)
            if text is not None:
                files[path] = text
    return files


def open_file_by_file(repo: Repository) -> RemovalPlan:
    """The anchor: the cleanup merge request as it was opened before the archive."""
    branch = cleanup_branch(FLAG)
    assert repo.open_merge_request(branch) is None and not repo.branch_exists(branch)
    removal = plan(read_file_by_file(repo), FLAG)
    repo.commit(branch, removal.commit_message(), removal.actions(), repo.default_branch)
    repo.create_merge_request(
        branch,
        repo.default_branch,
        cleanup_title(FLAG),
        cleanup_description(removal, None),
        [FEATURE_FLAG_LABEL],
    )
    return removal


def open_from_archive(repo: Repository) -> RemovalPlan:
    production = EnvironmentState("production", ON, False)
    opened = merge_requests.open_cleanup(repo, FLAG, None, production=production)
    assert opened.created and opened.plan is not None
    return opened.plan


def measure(
    fake: FakeGitLab, bot: User, contender: Callable[[Repository], RemovalPlan]
) -> tuple[int, float, RemovalPlan]:
    before = len(fake.requests)
    start = time.perf_counter()
    removal = contender(Repository(GitLab(fake.url, bot.token, timeout=60), PROJECT))
    seconds = time.perf_counter() - start
    return len(fake.requests) - before, seconds, removal


def reset(fake: FakeGitLab, project: Project, bot: User) -> None:
    """Close the merge request and delete its branch, without an API call."""
    from tests.fake_gitlab import repo_services

    for mr in list(project.merge_requests.values()):
        if mr.state == "opened":
            fake.edit_merge_request_as(bot, project, mr.iid, state_event="close")
    with fake.state.lock:
        repo_services.delete_branch(project, cleanup_branch(FLAG))


def summary(removal: RemovalPlan) -> dict[str, Any]:
    return {
        "definition": removal.definition_path,
        "rewritten": dict(sorted(removal.rewritten.items())),
        "leftovers": sorted(str(item) for item in removal.leftovers),
    }


def main() -> int:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # the tests' fake GitLab
    from tests.fake_gitlab import MAINTAINER, FakeGitLab

    logging.disable(logging.WARNING)
    files, checks = generate()
    text_bytes = sum(len(v) for v in files.values() if isinstance(v, str))
    print(f"cleanup_mr: {len(files):,} files ({text_bytes / 1e6:.1f} MB of text), ", end="")
    print(f"{REFERENCING} referencing {FLAG}")
    with FakeGitLab() as fake:
        bot = fake.create_user("rollout-bot")
        project = fake.create_project(fake.create_group("gitlab-org"), "monorepo")
        fake.add_member(project, bot, MAINTAINER)
        head = fake.seed_repository(project, files)
        text_files = {
            p: v
            for p, v in files.items()
            if isinstance(v, str) and p.endswith(tuple(TEXT_SUFFIXES))
        }
        start = time.perf_counter()
        plan(text_files, FLAG)  # warms libcst up for both contenders
        plan_seconds = time.perf_counter() - start

        archive_calls, archive_seconds, ours = measure(fake, bot, open_from_archive)
        reset(fake, project, bot)
        per_file_calls, per_file_seconds, anchor = measure(fake, bot, open_file_by_file)

        downloads = fake.requests_to("GET", r"/repository/archive")
        problems: list[str] = []
        if summary(ours) != summary(anchor):
            problems.append("the two contenders planned different changes")
        missing = sorted(set(checks) - set(ours.rewritten))
        if missing:
            problems.append(f"{len(missing)} checking files were not rewritten: {missing[:3]}")
        if [d.query.get("sha") for d in downloads] != [head.id]:
            problems.append("the archive was not downloaded once, pinned to the head commit")

    calls_ratio = per_file_calls / archive_calls
    speedup = per_file_seconds / archive_seconds
    print(f"  archive   {archive_calls:6d} calls {archive_seconds:8.2f} s  (ours)")
    print(f"  per_file  {per_file_calls:6d} calls {per_file_seconds:8.2f} s  (anchor)")
    print(f"  plan alone            {plan_seconds:8.2f} s  (in both)")
    print(f"  archive calls   = {archive_calls}  (target <= {TARGET_CALLS})")
    print(f"  calls ratio     = {calls_ratio:.0f}x")
    print(f"  speedup         = {speedup:.1f}x  (target >= {TARGET_SPEEDUP:.0f}x)")
    for problem in problems:
        print(f"  SANITY: {problem}")
    print(
        json.dumps(
            {
                "bench": "cleanup_mr",
                "files": len(files),
                "text_megabytes": round(text_bytes / 1e6, 2),
                "referencing_files": REFERENCING,
                "rewritten_files": len(ours.rewritten),
                "leftovers": len(ours.leftovers),
                "archive_calls": archive_calls,
                "per_file_calls": per_file_calls,
                "archive_seconds": round(archive_seconds, 3),
                "per_file_seconds": round(per_file_seconds, 3),
                "plan_seconds": round(plan_seconds, 3),
                "calls_ratio": round(calls_ratio, 1),
                "speedup": round(speedup, 1),
                "target_calls": TARGET_CALLS,
                "target_speedup": TARGET_SPEEDUP,
                "calls_target_met": archive_calls <= TARGET_CALLS,
                "speedup_target_met": speedup >= TARGET_SPEEDUP,
                "sane": not problems,
            }
        )
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
