"""REST API (v4) representations of repository objects, shaped like GitLab's API docs:
commits (commits.md), diffs, branches (branches.md), tags (tags.md), files
(repository_files.md), tree entries and compare (repositories.md).
Call with the state lock held.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from tests.fake_gitlab.aliases import Json
from tests.fake_gitlab.models import Project, User
from tests.fake_gitlab.repo_services import can_push
from tests.fake_gitlab.repository import Blob, Commit, FileDiff, Tag, TreeEntry, diff_files
from tests.fake_gitlab.state import State


def git_time(value: datetime) -> str:
    """Git keeps seconds; GitLab writes them as `2012-06-28T03:44:20.000+00:00`."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


def project_url(state: State, base: str, project: Project) -> str:
    return f"{base}/{state.path_with_namespace(project)}"


def commit(state: State, base: str, project: Project, c: Commit) -> Json:
    """Entities::Commit."""
    trailers = c.trailers()
    return {
        "id": c.id,
        "short_id": c.short_id,
        "created_at": git_time(c.committer.when),
        "parent_ids": list(c.parent_ids),
        "title": c.title,
        "message": c.message,
        "author_name": c.author.name,
        "author_email": c.author.email,
        "authored_date": git_time(c.author.when),
        "committer_name": c.committer.name,
        "committer_email": c.committer.email,
        "committed_date": git_time(c.committer.when),
        "trailers": {key: values[-1] for key, values in trailers.items()},
        "extended_trailers": trailers,
        "web_url": f"{project_url(state, base, project)}/-/commit/{c.id}",
    }


def stats(project: Project, c: Commit) -> Json:
    """Additions and deletions against the first parent (everything for a root commit)."""
    parent = project.repository.commits[c.parent_ids[0]].files if c.parent_ids else {}
    diffs = diff_files(parent, c.files)
    additions = sum(d.additions for d in diffs)
    deletions = sum(d.deletions for d in diffs)
    return {"additions": additions, "deletions": deletions, "total": additions + deletions}


def commit_detail(
    state: State, base: str, project: Project, c: Commit, *, with_stats: bool = True
) -> Json:
    """Entities::CommitDetail: `GET .../commits/:sha` and `POST .../commits`."""
    data = commit(state, base, project, c)
    if with_stats:
        data["stats"] = stats(project, c)
    return data | {"status": None, "project_id": project.id, "last_pipeline": None}


def diff(d: FileDiff) -> Json:
    return {
        "diff": d.diff,
        "collapsed": False,
        "too_large": False,
        "new_path": d.new_path,
        "old_path": d.old_path,
        "a_mode": d.a_mode,
        "b_mode": d.b_mode,
        "new_file": d.new_file,
        "renamed_file": d.renamed_file,
        "deleted_file": d.deleted_file,
        "generated_file": False,
    }


def branch(state: State, base: str, project: Project, name: str, user: User) -> Json:
    repo = project.repository
    head = repo.commits[repo.branches[name]]
    default = name == project.default_branch
    default_head = repo.branches.get(project.default_branch)
    protected = name in project.protected_branches
    return {
        "name": name,
        "merged": not default
        and default_head is not None
        and repo.is_ancestor(head.id, default_head),
        "protected": protected,
        "default": default,
        "developers_can_push": not protected,
        "developers_can_merge": not protected,
        "can_push": can_push(state, project, user, name),
        "web_url": f"{project_url(state, base, project)}/-/tree/{name}",
        "commit": commit(state, base, project, head),
    }


def tag(state: State, base: str, project: Project, t: Tag) -> Json:
    c = project.repository.commits[t.commit_id]
    return {
        "name": t.name,
        "message": t.message,
        "target": t.target,
        "commit": commit(state, base, project, c),
        "release": None,
        "protected": False,
        "created_at": git_time(t.tagger.when) if t.tagger else None,
    }


def file(project: Project, path: str, ref: str, c: Commit, blob: Blob) -> Json:
    """`GET .../repository/files/:file_path`: the content in base64."""
    last = project.repository.last_commit_for(c, path)
    return {
        "file_name": path.rsplit("/", 1)[-1],
        "file_path": path,
        "size": len(blob.data),
        "encoding": "base64",
        "content": base64.b64encode(blob.data).decode(),
        "content_sha256": hashlib.sha256(blob.data).hexdigest(),
        "ref": ref,
        "blob_id": blob.id,
        "commit_id": c.id,
        "last_commit_id": last.id,
        "execute_filemode": blob.executable,
    }


def file_headers(data: Json) -> dict[str, str]:
    """The `X-Gitlab-*` headers a `HEAD` (and `/raw`) answer carries."""
    names = (
        "blob_id",
        "commit_id",
        "content_sha256",
        "encoding",
        "file_name",
        "file_path",
        "last_commit_id",
        "ref",
        "size",
        "execute_filemode",
    )
    headers = {}
    for name in names:
        header = "X-Gitlab-" + "-".join(part.capitalize() for part in name.split("_"))
        value = data[name]
        headers[header] = str(value).lower() if isinstance(value, bool) else str(value)
    return headers


def tree_entry(entry: TreeEntry) -> Json:
    return {
        "id": entry.id,
        "name": entry.name,
        "type": entry.type,
        "path": entry.path,
        "mode": entry.mode,
    }


def compare(
    state: State,
    base: str,
    project: Project,
    commits: list[Commit],
    diffs: list[FileDiff],
    from_sha: str,
    to_sha: str,
    same_ref: bool,
) -> Json:
    """Entities::Compare; `commits` oldest first, `commit` the newest of them."""
    rendered = [commit(state, base, project, c) for c in commits]
    return {
        "commit": rendered[-1] if rendered else None,
        "commits": rendered,
        "diffs": [diff(d) for d in diffs],
        "compare_timeout": False,
        "compare_same_ref": same_ref,
        "web_url": f"{project_url(state, base, project)}/-/compare/{from_sha}...{to_sha}",
    }
