"""`FakeGitLab`: the state, the REST API on loopback and the webhooks, in one object.

Tests seed users, groups and projects directly, drive the API with python-gitlab,
act as a person with `edit_issue_as`, and assert on `requests` and `deliveries`.
Mutations made through the API and through the helpers run the same code path.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from tests.fake_gitlab import payloads, render
from tests.fake_gitlab.aliases import Json
from tests.fake_gitlab.api import create_app
from tests.fake_gitlab.delivery import Blocked, Deliverer, Delivery
from tests.fake_gitlab.faults import FaultPlan
from tests.fake_gitlab.models import (
    FeatureDefinition,
    Group,
    Hook,
    Issue,
    Member,
    Note,
    Project,
    User,
)
from tests.fake_gitlab.plumbing import RecordedRequest
from tests.fake_gitlab.server import LoopbackServer
from tests.fake_gitlab.state import IssueChange, State, utc_now

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
