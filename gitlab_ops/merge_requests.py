"""The merge requests the bot opens: the flag's cleanup, and making it default-enabled.

Doing it twice reuses the branch and its open merge request instead of
opening another: the branch name is derived from the flag. The cleanup is
planned from one commit of the default branch, read in one request (its
archive), and is opened only for a flag on for everyone in production.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flags.definition_edit import with_default_enabled
from flags.definitions import parse
from flags.errors import Refusal
from flags.removal import DEFINITION_PATH, RemovalPlan, plan
from flags.results import EnvironmentState
from gitlab_ops.archive import DEFAULT_LIMITS, ArchiveLimits
from gitlab_ops.fully_on import not_fully_on
from gitlab_ops.repository import MergeRequestView, Repository

TEXT_SUFFIXES = frozenset(
    {
        ".py", ".pyi", ".rb", ".js", ".ts", ".vue", ".haml", ".erb", ".md", ".yml", ".yaml",
        ".json", ".toml", ".cfg", ".ini", ".txt", ".html", ".graphql", ".sh",
    }
)  # fmt: skip
FEATURE_FLAG_LABEL = "feature flag"
NO_COMMIT = "{project} has no commit on its default branch {branch}: nothing to clean up"


@dataclass(frozen=True)
class Opened:
    merge_request: MergeRequestView
    created: bool
    plan: RemovalPlan | None = None


def cleanup_title(flag: str) -> str:
    return f"[Feature flag] Cleanup `{flag}`"


def default_enable_title(flag: str) -> str:
    return f"[Feature flag] Enable `{flag}` by default"


def cleanup_branch(flag: str) -> str:
    return f"rollout-bot/cleanup-{flag.replace('_', '-')}"


def default_enable_branch(flag: str) -> str:
    return f"rollout-bot/default-enable-{flag.replace('_', '-')}"


def is_text_path(path: str) -> bool:
    return path.endswith(tuple(TEXT_SUFFIXES))


def _read_default_branch(
    repo: Repository, flag: str, limits: ArchiveLimits
) -> tuple[str, dict[str, str]]:
    """The default branch's head commit and its text files, both from that one commit.

    The codemod follows constants across modules, so it needs every file, not
    only those naming the flag; the archive brings them in one request.
    """
    sha = repo.commit_sha(repo.default_branch)
    if sha is None:
        raise Refusal(NO_COMMIT.format(project=repo.path, branch=repo.default_branch))
    return sha, repo.read_archive(sha, is_text_path, limits, flag)


def cleanup_description(removal: RemovalPlan, rollout_issue: str | None) -> str:
    lines = [f"Removes the `{removal.flag}` feature flag, keeping the enabled code path."]
    if rollout_issue:
        lines.append(f"\nRollout issue: {rollout_issue}")
    lines.append("\n### Done by rollout-bot\n")
    if removal.definition_path:
        lines.append(f"- Deleted the definition `{removal.definition_path}`.")
    for path in sorted(removal.rewritten):
        lines.append(f"- Rewrote `{path}`.")
    lines.append(f"- Commit trailer `{removal.changelog}`.")
    lines.append("\n### Left for you\n")
    if removal.leftovers:
        lines += [f"- [ ] `{item.path}:{item.line}`: {item.reason}" for item in removal.leftovers]
    else:
        lines.append("Nothing: every reference was rewritten.")
    return "\n".join(lines) + "\n"


def open_cleanup(
    repo: Repository,
    flag: str,
    rollout_issue: str | None,
    *,
    production: EnvironmentState | None,
    limits: ArchiveLimits = DEFAULT_LIMITS,
    progress: Callable[[int, int], None] | None = None,
) -> Opened:
    """Open (or find) the merge request removing `flag`.

    `production` is the flag's state there (`fully_on.production_state`);
    anything but on for everyone is refused. None skips that check: only a
    person's explicit `--force` passes it. `progress(done, total)` counts the files
    planned, the long part.
    """
    if production is not None:
        refusal = not_fully_on(flag, production, repo.path)
        if refusal is not None:
            raise refusal
    branch = cleanup_branch(flag)
    existing = repo.open_merge_request(branch)
    if existing is not None:
        return Opened(existing, created=False)
    sha, files = _read_default_branch(repo, flag, limits)
    removal = plan(files, flag, progress=progress)
    if not repo.branch_exists(branch):
        if removal.empty:
            raise Refusal(
                f"nothing to remove: {repo.path} has no definition of or reference to '{flag}'"
            )
        # From the commit planned on, not the branch: a push meanwhile cannot mix trees.
        repo.commit(branch, removal.commit_message(), removal.actions(), None, start_sha=sha)
    mr = repo.create_merge_request(
        branch,
        repo.default_branch,
        cleanup_title(flag),
        cleanup_description(removal, rollout_issue),
        [FEATURE_FLAG_LABEL],
    )
    return Opened(mr, created=True, plan=removal)


def open_default_enable(repo: Repository, flag: str, rollout_issue: str | None) -> Opened:
    branch = default_enable_branch(flag)
    existing = repo.open_merge_request(branch)
    if existing is not None:
        return Opened(existing, created=False)
    paths = [
        p
        for p in repo.tree(repo.default_branch)
        if (m := DEFINITION_PATH.search(p)) is not None and m["name"] == flag
    ]
    if not paths:
        raise Refusal(f"{repo.path} has no definition of '{flag}'")
    path = paths[0]
    text = repo.read(path, repo.default_branch) or ""
    definition, _ = parse(path, text)
    if definition is None:
        raise Refusal(f"{path} has errors: run rollout-bot definitions validate")
    edited = with_default_enabled(text, definition)
    if edited == text:
        raise Refusal(f"'{flag}' is already default_enabled: true in {path}")
    if not repo.branch_exists(branch):
        message = f"Enable the {flag} feature flag by default\n\nChangelog: added\n"
        repo.commit(
            branch,
            message,
            [{"action": "update", "file_path": path, "content": edited}],
            repo.default_branch,
        )
    link = f"\n\nRollout issue: {rollout_issue}" if rollout_issue else ""
    mr = repo.create_merge_request(
        branch,
        repo.default_branch,
        default_enable_title(flag),
        f"Sets `default_enabled: true` in `{path}`.{link}\n",
        [FEATURE_FLAG_LABEL],
    )
    return Opened(mr, created=True)
