"""The GitLab calls the bot makes, through python-gitlab, with errors sorted by what to do.

Transient failures (429, 5xx, timeouts, refused connections) raise
`TransientGitLabError`, so the worker retries the delivery later; anything else
raises `GitLabError`, so the delivery fails with that reason. Each client
carries the `X-Gitlab-Event-UUID` of the delivery it serves: GitLab's recursion
detection then sends no webhook for the bot's own edits and comments
(https://docs.gitlab.com/user/project/integrations/webhooks/#recursive-webhooks).

python-gitlab retries nothing here: its rate-limit sleeping (`obey_rate_limit`,
on by default, an argument of each request rather than of `Gitlab()`) and its
transient retries would run inside a delivery's lease, out of the worker's
sight. A 429 or 503 with `Retry-After` raises `RetryLater`, so the worker waits
as asked (`gitlab_ops.http_session` reads the header).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import gitlab
import gitlab.exceptions
import requests

from flags.grammar import TARGET_KINDS, Target
from gitlab_ops import http_session
from gitlab_ops.errors import GitLabError, TransientGitLabError, UnknownTarget
from gitlab_ops.retry import RetryLater

log = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Looking for the bot's own marker reads the newest notes, this many pages of
# NOTES_PER_PAGE (GitLab's largest page): bounded, so its cost does not grow with
# the issue's history. A marker is looked for right after it may have been posted.
NOTES_PER_PAGE: Final = 100
MARKER_LOOK_PAGES: Final = 3
NO_ACCESS = 0
ACCESS_LEVELS = {
    "guest": 10,
    "planner": 15,
    "reporter": 20,
    "developer": 30,
    "maintainer": 40,
    "owner": 50,
}
ACCESS_NAMES = {value: name.capitalize() for name, value in ACCESS_LEVELS.items()}


@dataclass(frozen=True)
class IssueView:
    project_id: int
    iid: int
    title: str
    description: str
    state: str
    web_url: str
    labels: tuple[str, ...]


def _issue_view(issue: Any) -> IssueView:
    return IssueView(
        project_id=int(issue.project_id),
        iid=int(issue.iid),
        title=str(issue.title),
        description=str(issue.description or ""),
        state=str(issue.state),
        web_url=str(issue.web_url),
        labels=tuple(issue.labels or ()),
    )


def translate_error(exc: Exception, what: str) -> GitLabError:
    if isinstance(exc, gitlab.exceptions.GitlabHttpError | gitlab.exceptions.GitlabError):
        code = getattr(exc, "response_code", None)
        message = f"{what}: GitLab answered {code}: {exc.error_message}"
        retry_after = http_session.last_retry_after()
        if code in http_session.WAIT_STATUSES and retry_after is not None:
            return RetryLater(message, retry_after)
        if code in TRANSIENT_STATUS:
            return TransientGitLabError(message)
        return GitLabError(message)
    return TransientGitLabError(f"{what}: {type(exc).__name__}: {exc}")


GITLAB_ERRORS = (gitlab.exceptions.GitlabError, requests.exceptions.RequestException)


# Every request passes these, as python-gitlab documents for any API call
# (https://python-gitlab.readthedocs.io/en/stable/api-usage-advanced.html#rate-limits):
# its own waiting on 429 (`obey_rate_limit`) and its retries are off, so the worker's
# backoff, which honours `Retry-After` and counts attempts, is the only one.
# `retry_transient_errors=False` is set once, on the client.
ONCE: Final[dict[str, Any]] = {"obey_rate_limit": False, "max_retries": 0}


class GitLab:
    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        event_uuid: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.gl = gitlab.Gitlab(
            url,
            private_token=token,
            timeout=timeout,
            session=http_session.prepare(session or requests.Session()),
            retry_transient_errors=False,
            per_page=100,
        )
        # A client serves one delivery (`client_factory`): levels read once per user here.
        self._levels: dict[tuple[int, int], int] = {}
        if event_uuid:
            self.gl.headers["X-Gitlab-Event-UUID"] = event_uuid

    def current_user(self) -> tuple[int, str]:
        try:
            user = self.gl.http_get("/user", **ONCE)
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, "reading the bot's own user") from exc
        assert isinstance(user, dict)
        return int(user["id"]), str(user["username"])

    def project_id(self, ref: int | str) -> int:
        try:
            return int(self.gl.projects.get(ref, lazy=False, **ONCE).id)
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"finding project {ref}") from exc

    def issue(self, project_id: int, iid: int) -> IssueView:
        try:
            issue = self.gl.projects.get(project_id, lazy=True).issues.get(iid, **ONCE)
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"reading issue {project_id}#{iid}") from exc
        return _issue_view(issue)

    def create_issue(
        self, project: int | str, title: str, description: str, labels: list[str]
    ) -> IssueView:
        try:
            issue = self.gl.projects.get(project, lazy=True).issues.create(
                {"title": title, "description": description, "labels": ",".join(labels)},
                **ONCE,
            )
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"opening an issue in {project}") from exc
        return _issue_view(issue)

    def set_description(self, project_id: int, iid: int, description: str) -> IssueView:
        try:
            project = self.gl.projects.get(project_id, lazy=True)
            result = project.issues.update(iid, {"description": description}, **ONCE)
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"editing issue {project_id}#{iid}") from exc
        return IssueView(
            project_id=project_id,
            iid=iid,
            title=str(result.get("title", "")),
            description=str(result.get("description") or ""),
            state=str(result.get("state", "")),
            web_url=str(result.get("web_url", "")),
            labels=tuple(result.get("labels") or ()),
        )

    def close_issue(self, project_id: int, iid: int) -> None:
        try:
            self.gl.projects.get(project_id, lazy=True).issues.update(
                iid, {"state_event": "close"}, **ONCE
            )
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"closing issue {project_id}#{iid}") from exc

    def has_note_containing(self, project_id: int, iid: int, text: str) -> bool:
        """Whether one of the issue's newest notes (`MARKER_LOOK_PAGES` pages) contains
        `text`: the bot looks for its own marker right after it may have posted, so the
        look is newest first and bounded, whatever the issue's history."""
        for note in self._newest_notes(project_id, iid, MARKER_LOOK_PAGES * NOTES_PER_PAGE):
            if text in str(note.body):
                return True
        return False

    def recent_note_containing(
        self, project_id: int, iid: int, text: str, *, look: int = NOTES_PER_PAGE
    ) -> int | None:
        """The id of a note containing `text` among the issue's `look` newest: one request
        for the default look, whatever the issue's history (for a rerun that may have
        posted just before)."""
        for note in self._newest_notes(project_id, iid, look):
            if text in str(note.body):
                return int(note.id)
        return None

    def _newest_notes(self, project_id: int, iid: int, limit: int) -> Iterator[Any]:
        """The issue's notes, newest first, at most `limit`: page by page, stopping at the
        first page that ends the history. Hitting the bound is logged, since a marker
        older than it is not seen (the caller then posts or creates again)."""
        per_page = min(NOTES_PER_PAGE, limit)
        seen = 0
        try:
            issue = self.gl.projects.get(project_id, lazy=True).issues.get(iid, lazy=True)
            for page in range(1, -(-limit // per_page) + 1):
                notes = issue.notes.list(
                    get_all=False,
                    page=page,
                    per_page=per_page,
                    sort="desc",
                    order_by="created_at",
                    **ONCE,
                )
                for note in notes[: limit - seen]:
                    seen += 1
                    yield note
                if len(notes) < per_page:
                    return
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"reading comments of {project_id}#{iid}") from exc
        log.warning(
            "looked for a marker in the newest %d notes of %s#%s only (the bound)",
            seen,
            project_id,
            iid,
        )

    def create_note(self, project_id: int, iid: int, body: str) -> int:
        try:
            issue = self.gl.projects.get(project_id, lazy=True).issues.get(iid, lazy=True)
            note = issue.notes.create({"body": body}, **ONCE)
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"commenting on {project_id}#{iid}") from exc
        return int(note.id)

    def own_note_containing(self, project_id: int, iid: int, text: str) -> tuple[int, str] | None:
        """The newest note of this client's own user containing `text`, among the issue's
        newest `MARKER_LOOK_PAGES` pages: (id, body).

        Only the client's own notes count: a person quoting the bot's marker in a
        comment of theirs must not make the bot edit (or fail to edit) that comment.
        """
        own_id, _ = self.current_user()
        for note in self._newest_notes(project_id, iid, MARKER_LOOK_PAGES * NOTES_PER_PAGE):
            author = getattr(note, "author", None) or {}
            if int(author.get("id", -1)) == own_id and text in str(note.body):
                return int(note.id), str(note.body)
        return None

    def update_note(self, project_id: int, iid: int, note_id: int, body: str) -> None:
        try:
            issue = self.gl.projects.get(project_id, lazy=True).issues.get(iid, lazy=True)
            issue.notes.update(note_id, {"body": body}, **ONCE)
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"editing comment {note_id} of {project_id}#{iid}") from exc

    def access_level(self, project_id: int, user_id: int) -> int:
        """The user's level in the project, inherited and invited membership included;
        asked of GitLab once per user for the life of this client."""
        known = self._levels.get((project_id, user_id))
        if known is not None:
            return known
        self._levels[(project_id, user_id)] = level = self._access_level(project_id, user_id)
        return level

    def _access_level(self, project_id: int, user_id: int) -> int:
        try:
            member = self.gl.projects.get(project_id, lazy=True).members_all.get(user_id, **ONCE)
        except gitlab.exceptions.GitlabGetError as exc:
            if exc.response_code == 404:
                return NO_ACCESS
            raise translate_error(exc, f"reading {user_id}'s access to {project_id}") from exc
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"reading {user_id}'s access to {project_id}") from exc
        return int(member.access_level)


class GitLabResolver:
    """Targets by path or username, through the API; numeric ids need no call."""

    def __init__(self, client: GitLab) -> None:
        self.client = client

    def resolve(self, target: Target) -> str:
        kind = TARGET_KINDS[target.kind]
        if target.ref.isdigit():
            return f"{kind}:{int(target.ref)}"
        if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", target.ref):
            raise UnknownTarget(f"{target}: not a valid path or username")
        gl = self.client.gl
        try:
            if target.kind == "project":
                found = gl.projects.get(target.ref, **ONCE).id
            elif target.kind == "group":
                found = gl.groups.get(target.ref, **ONCE).id
            elif target.kind == "namespace":
                found = gl.namespaces.get(target.ref, **ONCE).id
            else:
                users = gl.users.list(username=target.ref, get_all=False, **ONCE)
                if not users:
                    raise UnknownTarget(f"{target}: no GitLab user with that username")
                found = users[0].id
        except gitlab.exceptions.GitlabGetError as exc:
            if exc.response_code == 404:
                raise UnknownTarget(f"{target}: not found on GitLab") from exc
            raise translate_error(exc, f"resolving {target}") from exc
        except GITLAB_ERRORS as exc:
            raise translate_error(exc, f"resolving {target}") from exc
        return f"{kind}:{int(found)}"


def client_factory(url: str, token: str | None, **kwargs: Any) -> Callable[[str | None], GitLab]:
    """Clients that send a delivery's `X-Gitlab-Event-UUID` back, so GitLab sends no echo."""

    def make(event_uuid: str | None) -> GitLab:
        return GitLab(url, token, event_uuid=event_uuid, **kwargs)

    return make
