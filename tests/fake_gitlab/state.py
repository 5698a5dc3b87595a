"""The fake's in-memory database and its domain rules, guarded by one lock.

Every mutation returns what changed in GitLab's terms (an `IssueChange` holds
`previous`/`current` pairs for exactly the columns that changed), so the webhook
builders never have to guess. No HTTP here.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from tests.fake_gitlab.models import (
    Feature,
    FeatureDefinition,
    Group,
    Issue,
    Label,
    Member,
    Note,
    Project,
    User,
)

Ref = int | str


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class IssueChange:
    """One saved edit: the hook `action` and GitLab's `previous_changes` for it."""

    issue: Issue
    action: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class NotFound(LookupError):
    """Raised with GitLab's message text, e.g. `404 Project Not Found`."""


class State:
    """Users, groups, projects, issues and notes. Hold `lock` across read-then-write."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        self._last_tick = datetime.min.replace(tzinfo=UTC)
        self._sequences: dict[str, int] = {}
        self.users: dict[int, User] = {}
        self.tokens: dict[str, int] = {}
        self.groups: dict[int, Group] = {}
        self.projects: dict[int, Project] = {}
        self.issues: dict[int, Issue] = {}
        self.notes: dict[int, Note] = {}
        self.features: dict[str, Feature] = {}
        self.feature_definitions: dict[str, FeatureDefinition] = {}

    # -- clock and ids -------------------------------------------------------

    def now(self) -> datetime:
        """Millisecond UTC time, strictly increasing so `updated_at` moves on every edit."""
        with self.lock:
            now = self._clock().astimezone(UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if now <= self._last_tick:
                now = self._last_tick + timedelta(milliseconds=1)
            self._last_tick = now
            return now

    def next_id(self, kind: str) -> int:
        with self.lock:
            self._sequences[kind] = self._sequences.get(kind, 0) + 1
            return self._sequences[kind]

    # -- users, groups, projects ---------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        token: str | None = None,
        is_admin: bool = False,
        public_email: str = "",
        state: str = "active",
    ) -> User:
        with self.lock:
            if any(u.username == username for u in self.users.values()):
                raise ValueError(f"username {username!r} is taken")
            user = User(
                id=self.next_id("user"),
                username=username,
                name=name or username.replace("_", " ").title(),
                namespace_id=self.next_id("namespace"),
                created_at=self.now(),
                state=state,
                is_admin=is_admin,
                public_email=public_email,
                token=token or f"glpat-{secrets.token_urlsafe(15)}",
            )
            self.users[user.id] = user
            self.tokens[user.token] = user.id
            return user

    def add_group(
        self,
        path: str,
        *,
        name: str | None = None,
        parent: Group | None = None,
        visibility: str = "public",
    ) -> Group:
        with self.lock:
            group = Group(
                id=self.next_id("namespace"),
                name=name or path,
                path=path,
                created_at=self.now(),
                parent_id=parent.id if parent else None,
                visibility=visibility,
            )
            if self._group_by_path(self.full_path(group)):
                raise ValueError(f"group {self.full_path(group)!r} exists")
            self.groups[group.id] = group
            return group

    def add_project(
        self,
        namespace: Group | User,
        path: str,
        *,
        name: str | None = None,
        description: str = "",
        default_branch: str = "main",
        visibility: str = "public",
    ) -> Project:
        with self.lock:
            namespace_id = namespace.id if isinstance(namespace, Group) else namespace.namespace_id
            project = Project(
                id=self.next_id("project"),
                name=name or path,
                path=path,
                namespace_id=namespace_id,
                created_at=self.now(),
                description=description,
                default_branch=default_branch,
                visibility=visibility,
                protected_branches={default_branch},  # GitLab protects the default branch
            )
            if self._project_by_path(self.path_with_namespace(project)):
                raise ValueError(f"project {self.path_with_namespace(project)!r} exists")
            self.projects[project.id] = project
            return project

    def add_member(
        self, source: Project | Group, user: User, access_level: int, *, by: User | None = None
    ) -> Member:
        with self.lock:
            member = Member(
                user_id=user.id,
                access_level=access_level,
                created_at=self.now(),
                created_by_id=by.id if by else None,
            )
            source.members[user.id] = member
            return member

    # -- paths ----------------------------------------------------------------

    def full_path(self, group: Group) -> str:
        parts = [group.path]
        while group.parent_id is not None:
            group = self.groups[group.parent_id]
            parts.append(group.path)
        return "/".join(reversed(parts))

    def full_name(self, group: Group) -> str:
        names = [group.name]
        while group.parent_id is not None:
            group = self.groups[group.parent_id]
            names.append(group.name)
        return " / ".join(reversed(names))

    def namespace_of(self, project: Project) -> Group | User:
        if project.namespace_id in self.groups:
            return self.groups[project.namespace_id]
        return next(u for u in self.users.values() if u.namespace_id == project.namespace_id)

    def namespace_path(self, namespace: Group | User) -> str:
        return self.full_path(namespace) if isinstance(namespace, Group) else namespace.username

    def path_with_namespace(self, project: Project) -> str:
        return f"{self.namespace_path(self.namespace_of(project))}/{project.path}"

    def ancestors(self, project: Project) -> list[Group]:
        """The project's group and that group's parents, nearest first."""
        namespace = self.namespace_of(project)
        chain: list[Group] = []
        group = namespace if isinstance(namespace, Group) else None
        while group is not None:
            chain.append(group)
            group = self.groups.get(group.parent_id) if group.parent_id is not None else None
        return chain

    # -- lookups (`ref` is an id or a path, URL-encoded or not) -----------------

    def user_by_token(self, token: str) -> User | None:
        with self.lock:
            user_id = self.tokens.get(token)
            return self.users.get(user_id) if user_id is not None else None

    def user(self, ref: Ref) -> User:
        with self.lock:
            key = _parse_ref(ref)
            found = (
                self.users.get(key)
                if isinstance(key, int)
                else next((u for u in self.users.values() if u.username == key), None)
            )
            if found is None:
                raise NotFound("404 User Not Found")
            return found

    def group(self, ref: Ref) -> Group:
        with self.lock:
            key = _parse_ref(ref)
            found = self.groups.get(key) if isinstance(key, int) else self._group_by_path(key)
            if found is None:
                raise NotFound("404 Group Not Found")
            return found

    def project(self, ref: Ref) -> Project:
        with self.lock:
            key = _parse_ref(ref)
            found = self.projects.get(key) if isinstance(key, int) else self._project_by_path(key)
            if found is None:
                raise NotFound("404 Project Not Found")
            return found

    def namespace(self, ref: Ref) -> Group | User:
        with self.lock:
            key = _parse_ref(ref)
            for group in self.groups.values():
                if key in (group.id, self.full_path(group)):
                    return group
            for user in self.users.values():
                if key in (user.namespace_id, user.username):
                    return user
            raise NotFound("404 Namespace Not Found")

    def issue(self, project: Project, iid: int) -> Issue:
        with self.lock:
            if iid not in project.issues:
                raise NotFound("404 Not found")
            return project.issues[iid]

    def note(self, issue: Issue, note_id: int) -> Note:
        with self.lock:
            found = next((n for n in issue.notes if n.id == note_id), None)
            if found is None:
                raise NotFound("404 Not found")
            return found

    def _group_by_path(self, path: str) -> Group | None:
        lowered = path.lower()
        return next((g for g in self.groups.values() if self.full_path(g).lower() == lowered), None)

    def _project_by_path(self, path: str) -> Project | None:
        lowered = path.lower()
        return next(
            (p for p in self.projects.values() if self.path_with_namespace(p).lower() == lowered),
            None,
        )

    # -- membership ------------------------------------------------------------

    def effective_member(self, source: Project | Group, user: User) -> Member | None:
        """Direct or inherited membership; the highest access level wins (members/all)."""
        with self.lock:
            candidates = [source.members.get(user.id)]
            groups = (
                self.ancestors(source) if isinstance(source, Project) else self._group_chain(source)
            )
            candidates += [g.members.get(user.id) for g in groups]
            found = [m for m in candidates if m is not None]
            return max(found, key=lambda m: m.access_level) if found else None

    def all_members(self, source: Project | Group) -> list[Member]:
        with self.lock:
            user_ids: set[int] = set(source.members)
            groups = (
                self.ancestors(source) if isinstance(source, Project) else self._group_chain(source)
            )
            for group in groups:
                user_ids |= set(group.members)
            members = (self.effective_member(source, self.users[uid]) for uid in sorted(user_ids))
            return [m for m in members if m is not None]

    def _group_chain(self, group: Group) -> list[Group]:
        chain = []
        while group.parent_id is not None:
            group = self.groups[group.parent_id]
            chain.append(group)
        return chain

    def can_read(self, project: Project, user: User) -> bool:
        return (
            project.visibility != "private"
            or user.is_admin
            or self.effective_member(project, user) is not None
        )

    # -- labels, issues, notes -------------------------------------------------

    def labels_named(self, project: Project, names: Iterable[str]) -> list[Label]:
        """Existing project labels by title, creating missing ones as GitLab's API does."""
        with self.lock:
            found: list[Label] = []
            for raw in names:
                title = raw.strip()
                if not title or any(lbl.title == title for lbl in found):
                    continue
                if title not in project.labels:
                    project.labels[title] = Label(
                        id=self.next_id("label"),
                        title=title,
                        project_id=project.id,
                        created_at=self.now(),
                    )
                found.append(project.labels[title])
            return sorted(found, key=lambda lbl: lbl.title)

    def create_issue(
        self,
        project: Project,
        author: User,
        *,
        title: str,
        description: str | None = None,
        labels: Iterable[str] = (),
        assignee_ids: Iterable[int] = (),
        confidential: bool = False,
    ) -> IssueChange:
        with self.lock:
            now = self.now()
            issue_id = self.next_id("issue")
            issue = Issue(
                id=issue_id,
                iid=len(project.issues) + 1,
                project_id=project.id,
                author_id=author.id,
                title=title,
                description=description,
                created_at=now,
                updated_at=now,
                labels=self.labels_named(project, labels),
                assignee_ids=[self.user(uid).id for uid in assignee_ids],
                confidential=confidential,
                relative_position=issue_id * 513,
            )
            project.issues[issue.iid] = issue
            self.issues[issue.id] = issue
            # ActiveRecord's previous_changes after the INSERT: every column set to non-null.
            inserted = {
                "author_id": author.id,
                "created_at": now,
                "description": description,
                "id": issue.id,
                "iid": issue.iid,
                "project_id": project.id,
                "relative_position": issue.relative_position,
                "title": title,
                "updated_at": now,
                "confidential": confidential or None,
            }
            changes = {k: (None, v) for k, v in inserted.items() if v is not None}
            return IssueChange(issue=issue, action="open", changes=changes)

    def update_issue(
        self,
        issue: Issue,
        actor: User,
        *,
        title: str | None = None,
        description: str | None = None,
        state_event: str | None = None,
        labels: Iterable[str] | None = None,
        add_labels: Iterable[str] = (),
        remove_labels: Iterable[str] = (),
        assignee_ids: Iterable[int] | None = None,
        confidential: bool | None = None,
        discussion_locked: bool | None = None,
    ) -> IssueChange | None:
        """Apply an edit; None when nothing changed (GitLab then saves and sends nothing)."""
        with self.lock:
            project = self.projects[issue.project_id]
            changes: dict[str, tuple[Any, Any]] = {}
            columns: dict[str, Any] = {
                "title": title,
                "description": description,
                "confidential": confidential,
                "discussion_locked": discussion_locked,
            }
            for column, value in columns.items():
                if value is not None and getattr(issue, column) != value:
                    changes[column] = (getattr(issue, column), value)

            new_labels = issue.labels if labels is None else self.labels_named(project, labels)
            added = self.labels_named(project, add_labels)
            dropped = {name.strip() for name in remove_labels}
            merged = {lbl.title: lbl for lbl in [*new_labels, *added] if lbl.title not in dropped}
            new_labels = sorted(merged.values(), key=lambda lbl: lbl.title)
            if [lbl.id for lbl in new_labels] != [lbl.id for lbl in issue.labels]:
                changes["labels"] = (list(issue.labels), new_labels)

            if assignee_ids is not None:
                ids = [self.user(uid).id for uid in assignee_ids]
                if ids != issue.assignee_ids:
                    changes["assignees"] = (list(issue.assignee_ids), ids)

            action = "update"
            if state_event == "close" and issue.state == "opened":
                action = "close"
            elif state_event == "reopen" and issue.state == "closed":
                action = "reopen"
            if not changes and action == "update":
                return None

            now = self.now()
            if action == "close":
                changes["state_id"] = (issue.state_id, 2)
                changes["closed_at"] = (issue.closed_at, now)
                issue.state, issue.closed_at, issue.closed_by_id = "closed", now, actor.id
            elif action == "reopen":
                changes["state_id"] = (issue.state_id, 1)
                changes["closed_at"] = (issue.closed_at, None)
                issue.state, issue.closed_at, issue.closed_by_id = "opened", None, None
            if "title" in changes or "description" in changes:
                changes["last_edited_at"] = (issue.last_edited_at, now)
                if issue.last_edited_by_id != actor.id:
                    changes["last_edited_by_id"] = (issue.last_edited_by_id, actor.id)
                issue.last_edited_at, issue.last_edited_by_id = now, actor.id
            if issue.updated_by_id != actor.id:
                changes["updated_by_id"] = (issue.updated_by_id, actor.id)
            changes["updated_at"] = (issue.updated_at, now)
            issue.updated_by_id, issue.updated_at = actor.id, now

            for column in columns:
                if column in changes:
                    setattr(issue, column, changes[column][1])
            issue.labels = new_labels
            if "assignees" in changes:
                issue.assignee_ids = changes["assignees"][1]
            return IssueChange(issue=issue, action=action, changes=changes)

    def create_note(self, issue: Issue, author: User, body: str, *, internal: bool = False) -> Note:
        with self.lock:
            now = self.now()
            note = Note(
                id=self.next_id("note"),
                project_id=issue.project_id,
                issue_id=issue.id,
                author_id=author.id,
                body=body,
                created_at=now,
                updated_at=now,
                internal=internal,
            )
            issue.notes.append(note)
            self.notes[note.id] = note
            return note

    def update_note(self, note: Note, actor: User, body: str) -> bool:
        with self.lock:
            if note.body == body:
                return False
            note.body, note.updated_at, note.updated_by_id = body, self.now(), actor.id
            return True


def _parse_ref(ref: Ref) -> int | str:
    if isinstance(ref, int):
        return ref
    text = unquote(ref)
    return int(text) if text.isdigit() else text
