"""`FakeGitLab`: the state, the REST API on loopback and the webhooks, in one object.

Tests seed users, groups, projects, repositories (`seed_repository`) and
deployments (`deploy`) directly, drive the API with python-gitlab, act as a person
with `edit_issue_as`, `commit_as`, `create_merge_request_as` or `merge_as`, and
assert on `requests` and `deliveries`.
Mutations made through the API and through the helpers run the same code path.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from tests.fake_gitlab import deployments, payloads, render, render_mr, repo_services
from tests.fake_gitlab import merge_requests as mr_rules
from tests.fake_gitlab.aliases import Json
from tests.fake_gitlab.api import create_app
from tests.fake_gitlab.delivery import Blocked, Deliverer, Delivery
from tests.fake_gitlab.faults import FaultPlan
from tests.fake_gitlab.merge_requests import MergeRequestChange
from tests.fake_gitlab.models import (
    Deployment,
    FeatureDefinition,
    Group,
    Hook,
    Issue,
    Member,
    MergeRequest,
    Note,
    Project,
    User,
)
from tests.fake_gitlab.plumbing import RecordedRequest
from tests.fake_gitlab.repository import Commit, Repository, Tag
from tests.fake_gitlab.server import LoopbackServer
from tests.fake_gitlab.state import IssueChange, NotFound, State, utc_now

DEFAULT_VERSION = "18.6.0"
UNSTARTED_URL = "http://gitlab.test"


class FakeGitLab:
    """A GitLab REST API (v4) and webhook sender for tests. See the package docstring."""

    def __init__(
        self,
        *,
        version: str = DEFAULT_VERSION,
        background_deliveries: bool = False,
        delivery_timeout: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
        external_url: str | None = None,
    ) -> None:
        self.version = version
        self.state = State(clock)
        self.faults = FaultPlan()
        self.requests: list[RecordedRequest] = []
        self._log_lock = threading.Lock()
        self._external_url = external_url
        self._hooks = Deliverer(
            instance_url=lambda: self.web_url,
            version=version,
            timeout=delivery_timeout,
            background=background_deliveries,
        )
        self._server = LoopbackServer(create_app(self), "fake-gitlab")

    # -- serving ---------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`: pass it to `gitlab.Gitlab(url, private_token=...)`."""
        return self._server.url

    @property
    def web_url(self) -> str:
        """The instance URL used in `web_url` fields and `X-Gitlab-Instance`."""
        if self._external_url:
            return self._external_url
        return self._server.url if self._server.running else UNSTARTED_URL

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self.faults.release()  # no request stays held by a delay
        self._server.stop()
        self._hooks.wait(timeout=1)
        self._hooks.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- seeding ---------------------------------------------------------------

    def create_user(
        self,
        username: str,
        *,
        name: str | None = None,
        token: str | None = None,
        admin: bool = False,
        public_email: str = "",
    ) -> User:
        """A user and its personal access token (`user.token`; generated if not given)."""
        return self.state.add_user(
            username, name=name, token=token, is_admin=admin, public_email=public_email
        )

    def create_group(
        self,
        path: str,
        *,
        name: str | None = None,
        parent: Group | None = None,
        visibility: str = "public",
    ) -> Group:
        return self.state.add_group(path, name=name, parent=parent, visibility=visibility)

    def create_project(
        self,
        namespace: Group | User,
        path: str,
        *,
        name: str | None = None,
        description: str = "",
        default_branch: str = "main",
        visibility: str = "public",
    ) -> Project:
        return self.state.add_project(
            namespace,
            path,
            name=name,
            description=description,
            default_branch=default_branch,
            visibility=visibility,
        )

    def add_member(
        self, source: Project | Group, user: User, access_level: int, *, by: User | None = None
    ) -> Member:
        """Direct membership; project members also inherit from the project's groups."""
        return self.state.add_member(source, user, access_level, by=by)

    def define_feature(self, name: str, **fields: Any) -> FeatureDefinition:
        """A YAML definition as `GET /features/definitions` lists it."""
        definition = FeatureDefinition(name=name, **fields)
        with self.state.lock:
            self.state.feature_definitions[name] = definition
        return definition

    def add_hook(
        self,
        url: str,
        *,
        token: str | None = None,
        signing_token: str | None = None,
        project: Project | None = None,
        issues_events: bool = True,
        note_events: bool = True,
        confidential_issues_events: bool = True,
        confidential_note_events: bool = True,
        merge_requests_events: bool = True,
    ) -> Hook:
        """A webhook; without `project` it receives events of every project."""
        return self._hooks.add_hook(
            url,
            token=token,
            signing_token=signing_token,
            project_id=project.id if project else None,
            issues_events=issues_events,
            note_events=note_events,
            confidential_issues_events=confidential_issues_events,
            confidential_note_events=confidential_note_events,
            merge_requests_events=merge_requests_events,
        )

    # -- repositories, merge requests, deployments (same code paths as the API) ------------

    def seed_repository(
        self,
        project: Project | str | int,
        files: Mapping[str, str | bytes | None],
        *,
        branch: str | None = None,
        message: str = "Initial commit",
        author: User | None = None,
    ) -> Commit:
        """Commit `files` (path -> content; None deletes) on `branch` (the default branch
        unless given) on top of what is there, without access checks. A new branch starts
        from the default branch. The author defaults to the Administrator."""
        with self.state.lock:
            proj = self.state.project(_ref(project))
            repo = proj.repository
            branch = branch or proj.default_branch
            start = branch if branch in repo.branches or repo.empty else proj.default_branch
            current = repo.commits[repo.branches[start]].files if start in repo.branches else {}
            actions: list[dict[str, Any]] = []
            for path, content in files.items():
                if content is None:
                    actions.append({"action": "delete", "file_path": path})
                else:
                    action = "update" if path in current else "create"
                    actions.append({"action": action, "file_path": path, "content": content})
            return repo_services.commit(
                self.state,
                proj,
                None,
                branch=branch,
                message=message,
                actions=repo_services.parse_actions(actions),
                start_branch=start,
                author_name=author.name if author else None,
                author_email=repo_services.user_email(author) if author else None,
            )

    def commit_as(
        self,
        user: User,
        project: Project | str | int,
        branch: str,
        actions: list[dict[str, Any]],
        message: str,
        start_branch: str | None = None,
    ) -> Commit:
        """`POST /projects/:id/repository/commits` as `user`: `actions` are the API's
        (`{"action": "create", "file_path": ..., "content": ...}`). Raises `ServiceError`
        with GitLab's status and message when GitLab would refuse."""
        parsed = repo_services.parse_actions(actions)
        with self.state.lock:
            return repo_services.commit(
                self.state,
                self.state.project(_ref(project)),
                user,
                branch=branch,
                message=message,
                actions=parsed,
                start_branch=start_branch,
            )

    def create_branch(self, project: Project | str | int, name: str, ref: str) -> Commit:
        with self.state.lock:
            return repo_services.create_branch(self.state.project(_ref(project)), name, ref)

    def create_tag(
        self,
        project: Project | str | int,
        name: str,
        ref: str,
        *,
        message: str | None = None,
        user: User | None = None,
    ) -> Tag:
        """A lightweight tag, or an annotated one with `message`."""
        with self.state.lock:
            proj = self.state.project(_ref(project))
            return repo_services.create_tag(self.state, proj, user, name, ref, message)

    def repository(self, project: Project | str | int) -> Repository:
        """The project's Git model: `commits`, `branches`, `tags`, `resolve(ref)`, `log(...)`."""
        return self.state.project(_ref(project)).repository

    def read_file(self, project: Project | str | int, path: str, ref: str = "HEAD") -> str | None:
        """A file's text at a ref (None when the ref or the file does not exist)."""
        with self.state.lock:
            found = repo_services.resolve(self.state.project(_ref(project)), ref)
            blob = found.files.get(path) if found else None
            return blob.data.decode() if blob else None

    def create_merge_request_as(
        self,
        actor: User,
        project: Project | str | int,
        source_branch: str,
        target_branch: str,
        title: str,
        **fields: Any,
    ) -> MergeRequest:
        """Open an MR as a person would and deliver the Merge Request Hook; `fields` are
        `merge_requests.create`'s (description, labels, assignee_ids, reviewer_ids, ...)."""
        with self.state.lock:
            proj = self.state.project(_ref(project))
            change = mr_rules.create(
                self.state,
                proj,
                actor,
                source_branch=source_branch,
                target_branch=target_branch,
                title=title,
                **fields,
            )
            deliveries = self.merge_request_hooks(change, actor, request_uuid=None)
        self.send(deliveries)
        return change.merge_request

    def edit_merge_request_as(
        self, actor: User, project: Project | str | int, iid: int, **fields: Any
    ) -> list[Delivery]:
        """Edit (or close/reopen with `state_event`) an MR; `fields` are
        `merge_requests.update`'s. Returns the hook deliveries."""
        with self.state.lock:
            mr = self.merge_request(project, iid)
            change = mr_rules.update(self.state, mr, actor, **fields)
            deliveries = (
                self.merge_request_hooks(change, actor, request_uuid=None) if change else []
            )
        self.send(deliveries)
        return deliveries

    def merge_as(
        self, actor: User, project: Project | str | int, iid: int, **options: Any
    ) -> MergeRequest:
        """Accept an MR like the Merge button (`merge_requests.merge`'s options:
        merge_commit_message, should_remove_source_branch, sha)."""
        with self.state.lock:
            mr = self.merge_request(project, iid)
            change = mr_rules.merge(self.state, mr, actor, **options)
            deliveries = self.merge_request_hooks(change, actor, request_uuid=None)
        self.send(deliveries)
        return mr

    def merge_request(self, project: Project | str | int, iid: int) -> MergeRequest:
        with self.state.lock:
            proj = self.state.project(_ref(project))
            if iid not in proj.merge_requests:
                raise NotFound("404 Not found")
            return proj.merge_requests[iid]

    def merge_request_json(self, project: Project | str | int, iid: int, user: User) -> Json:
        """What `GET /projects/:id/merge_requests/:iid` would answer `user` now."""
        with self.state.lock:
            proj = self.state.project(_ref(project))
            mr = self.merge_request(proj, iid)
            return render_mr.merge_request(self.state, self.web_url, proj, mr, user)

    def deploy(
        self,
        project: Project | str | int,
        environment_name: str,
        sha_or_ref: str,
        status: str = "success",
        *,
        user: User | None = None,
    ) -> Deployment:
        """Record a deployment by a CI job (the environment is created on first use);
        `user` defaults to the first user."""
        with self.state.lock:
            proj = self.state.project(_ref(project))
            deployer = user or self.state.users[min(self.state.users)]
            return deployments.deploy(
                self.state, proj, environment_name, sha_or_ref, user=deployer, status=status
            )

    # -- acting as a person (same code path as the API) ---------------------------

    def create_issue_as(
        self,
        actor: User,
        project: Project | str | int,
        title: str,
        *,
        description: str | None = None,
        labels: Iterable[str] = (),
        assignees: Iterable[User] = (),
        confidential: bool = False,
    ) -> Issue:
        with self.state.lock:
            change = self.state.create_issue(
                self.state.project(_ref(project)),
                actor,
                title=title,
                description=description,
                labels=labels,
                assignee_ids=[u.id for u in assignees],
                confidential=confidential,
            )
            deliveries = self.issue_hooks(change, actor, request_uuid=None)
        self.send(deliveries)
        return change.issue

    def edit_issue_as(
        self,
        actor: User,
        project: Project | str | int,
        iid: int,
        *,
        event_uuid: str | None = None,
        **fields: Any,
    ) -> list[Delivery]:
        """Edit like a person in the UI (e.g. ticking a box) and deliver the Issue Hook.

        `fields` are `State.update_issue`'s: description, title, state_event, labels, ...
        Returns the deliveries (already answered unless deliveries run in the background).
        """
        with self.state.lock:
            issue = self.state.issue(self.state.project(_ref(project)), iid)
            change = self.state.update_issue(issue, actor, **fields)
            deliveries = self.issue_hooks(change, actor, request_uuid=event_uuid) if change else []
        self.send(deliveries)
        return deliveries

    def add_note_as(
        self, actor: User, project: Project | str | int, iid: int, body: str
    ) -> tuple[Note, list[Delivery]]:
        with self.state.lock:
            issue = self.state.issue(self.state.project(_ref(project)), iid)
            note = self.state.create_note(issue, actor, body)
            deliveries = self.note_hooks(note, actor, "create", request_uuid=None)
        self.send(deliveries)
        return note, deliveries

    def issue(self, project: Project | str | int, iid: int) -> Issue:
        return self.state.issue(self.state.project(_ref(project)), iid)

    def issue_json(self, project: Project | str | int, iid: int) -> Json:
        """What `GET /projects/:id/issues/:iid` would answer now."""
        with self.state.lock:
            return render.issue(self.state, self.web_url, self.issue(project, iid))

    # -- webhooks ----------------------------------------------------------------

    @property
    def hooks(self) -> list[Hook]:
        return self._hooks.snapshot()[0]

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery attempt, in order; `status_code` is what the receiver answered."""
        return self._hooks.snapshot()[1]

    @property
    def blocked_deliveries(self) -> list[Blocked]:
        """Deliveries not sent: recursion detection, or a hook disabled after failures."""
        return self._hooks.snapshot()[2]

    def redeliver(self, delivery_id: int) -> Delivery:
        """Resend a delivery byte for byte, with the same Idempotency-Key (and webhook-id)."""
        return self._hooks.redeliver(delivery_id)

    def wait_for_deliveries(self, timeout: float = 10.0) -> list[Delivery]:
        if not self._hooks.wait(timeout):
            raise TimeoutError("webhook deliveries still pending")
        return self.deliveries

    def issue_hooks(
        self, change: IssueChange, actor: User, *, request_uuid: str | None
    ) -> list[Delivery]:
        """Prepare the Issue Hook deliveries for a saved change (state lock held)."""
        payload = payloads.issue_payload(self.state, self.web_url, change, actor)
        if change.issue.confidential:
            event, wants = "Confidential Issue Hook", _wants_confidential_issues
        else:
            event, wants = "Issue Hook", _wants_issues
        return self._hooks.prepare(
            event,
            payload,
            project_id=change.issue.project_id,
            wants=wants,
            request_uuid=request_uuid,
        )

    def note_hooks(
        self, note: Note, actor: User, action: str, *, request_uuid: str | None
    ) -> list[Delivery]:
        """Prepare the Note Hook deliveries for a created or edited note (state lock held)."""
        payload = payloads.note_payload(self.state, self.web_url, note, actor, action)
        if payload["event_type"] == "confidential_note":
            event, wants = "Confidential Note Hook", _wants_confidential_notes
        else:
            event, wants = "Note Hook", _wants_notes
        return self._hooks.prepare(
            event, payload, project_id=note.project_id, wants=wants, request_uuid=request_uuid
        )

    def merge_request_hooks(
        self, change: MergeRequestChange, actor: User, *, request_uuid: str | None
    ) -> list[Delivery]:
        """Prepare the Merge Request Hook deliveries for a saved change (state lock held)."""
        payload = payloads.merge_request_payload(self.state, self.web_url, change, actor)
        return self._hooks.prepare(
            "Merge Request Hook",
            payload,
            project_id=change.merge_request.project_id,
            wants=_wants_merge_requests,
            request_uuid=request_uuid,
        )

    def send(self, deliveries: list[Delivery]) -> None:
        """Send prepared deliveries; call without holding the state lock."""
        self._hooks.send(deliveries)

    # -- failure injection and the request log --------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        retry_after: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next `n` API requests (matching `method` and the `path` regex) with
        `status`; a 429 carries `Retry-After` when `retry_after` is given."""
        self.faults.add(n, status=status, retry_after=retry_after, method=method, path=path)

    def delay(
        self, seconds: float, n: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Hold the next `n` matching API requests for `seconds` before answering
        (cut short by `faults.clear()` and `stop()`)."""
        self.faults.add(n, delay=seconds, method=method, path=path)

    def answer_late(
        self, seconds: float, n: int = 1, *, method: str | None = None, path: str | None = None
    ) -> None:
        """Handle the next `n` matching API requests at once and hold their answers for
        `seconds`: a client that times out meanwhile had its change made (a slow instance)."""
        self.faults.add(n, delay=seconds, method=method, path=path, late=True)

    def record(self, entry: RecordedRequest) -> None:
        with self._log_lock:
            self.requests.append(entry)

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Logged requests with this method whose path matches the regex."""
        pattern = re.compile(path_regex)
        with self._log_lock:
            return [
                r for r in self.requests if r.method == method.upper() and pattern.search(r.path)
            ]


def _ref(project: Project | str | int) -> str | int:
    return project.id if isinstance(project, Project) else project


def _wants_issues(hook: Hook) -> bool:
    return hook.issues_events


def _wants_confidential_issues(hook: Hook) -> bool:
    return hook.confidential_issues_events


def _wants_notes(hook: Hook) -> bool:
    return hook.note_events


def _wants_confidential_notes(hook: Hook) -> bool:
    return hook.confidential_note_events


def _wants_merge_requests(hook: Hook) -> bool:
    return hook.merge_requests_events
