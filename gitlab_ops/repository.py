"""Repository, merge request and deployment calls on one project, through python-gitlab.

Errors are sorted like `gitlab_ops.client`: transient ones retry, others fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import gitlab.exceptions

from gitlab_ops import archive
from gitlab_ops.archive import Archive, ArchiveLimits
from gitlab_ops.client import GITLAB_ERRORS, ONCE, GitLab, translate_error
from gitlab_ops.errors import TransientGitLabError


@dataclass(frozen=True)
class MergeRequestView:
    iid: int
    title: str
    state: str
    web_url: str
    source_branch: str
    target_branch: str
    merge_commit_sha: str | None
    squash_commit_sha: str | None
    sha: str | None


def _mr(mr: Any) -> MergeRequestView:
    return MergeRequestView(
        iid=int(mr.iid),
        title=str(mr.title),
        state=str(mr.state),
        web_url=str(mr.web_url),
        source_branch=str(mr.source_branch),
        target_branch=str(mr.target_branch),
        merge_commit_sha=getattr(mr, "merge_commit_sha", None),
        squash_commit_sha=getattr(mr, "squash_commit_sha", None),
        sha=getattr(mr, "sha", None),
    )


class Repository:
    def __init__(self, client: GitLab, project: int | str) -> None:
        self.client = client
        try:
            self.project = client.gl.projects.get(project, **ONCE)
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"finding project {project}") from exc
        self.id = int(self.project.id)
        self.path = str(self.project.path_with_namespace)
        self.default_branch = str(self.project.default_branch or "main")

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **{**ONCE, **kwargs})
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, what) from exc

    # --- reading -----------------------------------------------------------------------

    def tree(self, ref: str) -> Iterator[str]:
        """Every file path at `ref`."""
        items = self._call(
            f"listing the files of {self.path}",
            self.project.repository_tree,
            ref=ref,
            recursive=True,
            get_all=True,
        )
        for item in items:
            if item["type"] == "blob":
                yield str(item["path"])

    def read(self, path: str, ref: str) -> str | None:
        """A text file's content; None when it is binary or too large to be code."""
        raw = self._call(
            f"reading {path} in {self.path}", self.project.files.raw, file_path=path, ref=ref
        )
        return archive.decode_text(raw)

    def read_archive(
        self, sha: str, wanted: Callable[[str], bool], limits: ArchiveLimits, flag: str
    ) -> dict[str, str]:
        """The wanted text files at commit `sha`, in one request: its tar.gz archive.

        Pass a full commit id, not a branch, so that everything planned from it
        describes one tree even when a push lands meanwhile.
        """
        what = f"downloading the archive of {self.path} at {sha}"
        about = Archive(project=self.path, sha=sha, flag=flag)
        chunks = self._call(
            what,
            self.project.repository_archive,
            sha=sha,
            format="tar.gz",
            streamed=True,  # without it requests reads the whole body before the first chunk
            iterator=True,
            chunk_size=archive.CHUNK_BYTES,
        )
        try:
            spooled = archive.spool(chunks, about, limits)
        except GITLAB_ERRORS as exc:  # the connection broke mid-download
            raise translate_error(exc, what) from exc
        with spooled:
            try:
                return archive.text_files(spooled, about, limits, wanted)
            except archive.UnreadableArchive as exc:
                raise TransientGitLabError(str(exc)) from exc

    def branch_exists(self, name: str) -> bool:
        try:
            self.project.branches.get(name, **ONCE)
        except gitlab.exceptions.GitlabGetError as exc:
            if exc.response_code == 404:
                return False
            raise translate_error(exc, f"reading branch {name}") from exc
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"reading branch {name}") from exc
        return True

    def open_merge_request(self, source_branch: str) -> MergeRequestView | None:
        found = self._call(
            f"listing merge requests of {self.path}",
            self.project.mergerequests.list,
            source_branch=source_branch,
            state="opened",
            get_all=False,
        )
        return _mr(found[0]) if found else None

    def merge_request(self, iid: int) -> MergeRequestView:
        return _mr(self._call(f"reading !{iid}", self.project.mergerequests.get, iid))

    def merge_base(self, a: str, b: str) -> str | None:
        try:
            found = self.project.repository_merge_base([a, b], **ONCE)
        except gitlab.exceptions.GitlabGetError as exc:
            if exc.response_code in (400, 404):
                return None  # an unknown commit: it cannot be contained
            raise translate_error(exc, "finding a merge base") from exc
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, "finding a merge base") from exc
        return str(found["id"]) if isinstance(found, dict) and found.get("id") else None

    def commit_sha(self, ref: str) -> str | None:
        """The full id of the commit `ref` names; None when it names none."""
        try:
            # Only the id is needed: no diff stats for GitLab to compute.
            return str(self.project.commits.get(ref, stats="false", **ONCE).id)
        except gitlab.exceptions.GitlabGetError as exc:
            if exc.response_code == 404:
                return None
            raise translate_error(exc, f"reading commit {ref}") from exc
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"reading commit {ref}") from exc

    def tags_containing(self, sha: str) -> list[str]:
        commit = self._call(f"reading commit {sha}", self.project.commits.get, sha, lazy=True)
        refs = self._call(f"reading the tags of {sha}", commit.refs, type="tag", get_all=True)
        return [str(ref["name"]) for ref in refs]

    def environments(self) -> list[str]:
        found = self._call(
            f"listing environments of {self.path}", self.project.environments.list, get_all=True
        )
        return [str(env.name) for env in found]

    def last_successful_deployment(self, environment: str) -> dict[str, Any] | None:
        found = self._call(
            f"listing deployments to {environment}",
            self.project.deployments.list,
            environment=environment,
            status="success",
            order_by="finished_at",
            sort="desc",
            per_page=1,
            get_all=False,
        )
        return dict(found[0].attributes) if found else None

    # --- writing -----------------------------------------------------------------------

    def commit(
        self,
        branch: str,
        message: str,
        actions: list[dict[str, Any]],
        start_branch: str | None,
        *,
        start_sha: str | None = None,
    ) -> str:
        """One commit on `branch`, created from `start_branch` or `start_sha` when new."""
        data: dict[str, Any] = {"branch": branch, "commit_message": message, "actions": actions}
        if start_branch is not None:
            data["start_branch"] = start_branch
        if start_sha is not None:
            data["start_sha"] = start_sha
        created = self._call(f"committing to {branch}", self.project.commits.create, data)
        return str(created.id)

    def create_merge_request(
        self, source: str, target: str, title: str, description: str, labels: list[str]
    ) -> MergeRequestView:
        return _mr(
            self._call(
                f"opening a merge request in {self.path}",
                self.project.mergerequests.create,
                {
                    "source_branch": source,
                    "target_branch": target,
                    "title": title,
                    "description": description,
                    "labels": ",".join(labels),
                    "remove_source_branch": True,
                },
            )
        )
