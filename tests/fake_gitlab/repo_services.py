"""GitLab's repository services over the Git model. Call with the state lock held.

- refs: an empty ref and `HEAD` mean the project's default branch;
- commits with actions: Commits::CreateService's checks and Gitaly's
  UserCommitFiles messages (`A file with this name already exists`, ...);
- branches and tags: Branches::CreateService and Tags::CreateService messages;
- pushing: Developers push to unprotected branches; protected ones (the default
  branch, as GitLab protects it) take a Maintainer.

Errors are `ServiceError`s carrying GitLab's status and body.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.fake_gitlab.aliases import Json
from tests.fake_gitlab.models import DEVELOPER, MAINTAINER, Project, User
from tests.fake_gitlab.repository import Blob, Commit, Signature, Tag
from tests.fake_gitlab.state import State

ACTIONS = ("create", "delete", "move", "update", "chmod")
ADMIN_SIGNATURE = ("Administrator", "admin@example.com")
_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


class ServiceError(Exception):
    """Answered with `status` and `{key: message}` (Grape's parameter errors use "error")."""

    def __init__(self, status: int, message: Any, *, key: str = "message") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key

    @property
    def body(self) -> Json:
        return {self.key: self.message}


@dataclass(frozen=True)
class Action:
    """One `actions[]` item of `POST /projects/:id/repository/commits`."""

    action: str
    file_path: str
    content: bytes | None = None
    previous_path: str | None = None
    execute_filemode: bool | None = None


# -- users and access -----------------------------------------------------------------------


def user_email(user: User) -> str:
    return user.public_email or f"{user.username}@example.com"


def signature(
    user: User | None, when: datetime, *, name: str | None = None, email: str | None = None
) -> Signature:
    default_name, default_email = (user.name, user_email(user)) if user else ADMIN_SIGNATURE
    return Signature(name or default_name, email or default_email, when)


def access_level(state: State, project: Project, user: User) -> int:
    member = state.effective_member(project, user)
    return member.access_level if member else 0


def can_push(state: State, project: Project, user: User, branch: str) -> bool:
    """Push (and merge) rights: Maintainer on protected branches, Developer elsewhere."""
    if user.is_admin:
        return True
    needed = MAINTAINER if branch in project.protected_branches else DEVELOPER
    return access_level(state, project, user) >= needed


def require_push(state: State, project: Project, user: User, branch: str) -> None:
    if not can_push(state, project, user, branch):
        raise ServiceError(403, "403 Forbidden - You are not allowed to push into this branch")


# -- refs -----------------------------------------------------------------------------------


def resolve(project: Project, ref: str | None) -> Commit | None:
    """A branch, tag or (abbreviated) commit id; empty or `HEAD` is the default branch."""
    if not ref or ref == "HEAD":
        ref = project.default_branch
    return project.repository.resolve(ref)


def valid_ref_name(name: str) -> bool:
    """`git check-ref-format --branch`, as Gitlab::GitRefValidator applies it."""
    if not name or name in ("HEAD", "@") or _FULL_SHA.match(name):
        return False
    if name.startswith(("-", "/", "refs/")) or name.endswith(("/", ".", ".lock")):
        return False
    if ".." in name or "//" in name or "@{" in name or _BAD_REF_CHARS.search(name):
        return False
    return not any(part.startswith(".") for part in name.split("/"))


# -- commits --------------------------------------------------------------------------------


def parse_actions(raw: Any) -> list[Action]:
    """Validate `actions[]` as Grape does (`actions[0][file_path] is missing`, ...)."""
    if raw is None:
        raise ServiceError(400, "actions is missing", key="error")
    if not isinstance(raw, list):
        raise ServiceError(400, "actions is invalid", key="error")
    actions: list[Action] = []
    for index, item in enumerate(raw):
        where = f"actions[{index}]"
        if not isinstance(item, Mapping):
            raise ServiceError(400, f"{where} is invalid", key="error")
        for required in ("action", "file_path"):
            if not item.get(required):
                raise ServiceError(400, f"{where}[{required}] is missing", key="error")
        if item["action"] not in ACTIONS:
            raise ServiceError(400, f"{where}[action] does not have a valid value", key="error")
        encoding = item.get("encoding") or "text"
        if encoding not in ("text", "base64"):
            raise ServiceError(400, f"{where}[encoding] does not have a valid value", key="error")
        content = item.get("content")
        if content is not None and not isinstance(content, bytes):
            content = decode_content(str(content), encoding)
        mode = item.get("execute_filemode")
        actions.append(
            Action(
                action=str(item["action"]),
                file_path=str(item["file_path"]),
                content=content,
                previous_path=item.get("previous_path"),
                execute_filemode=None if mode is None else str(mode).lower() in ("true", "1"),
            )
        )
    return actions


def decode_content(content: str, encoding: str) -> bytes:
    if encoding != "base64":
        return content.encode()
    try:
        return base64.b64decode(content, validate=False)
    except (binascii.Error, ValueError):
        raise ServiceError(400, "400 Bad request - Invalid base64 content") from None


def apply_actions(files: Mapping[str, Blob], actions: Sequence[Action]) -> dict[str, Blob]:
    """Gitaly's UserCommitFiles: each action sees the result of the ones before it."""
    tree = dict(files)

    def require(path: str) -> Blob:
        if path not in tree:
            raise ServiceError(400, "A file with this name doesn't exist")
        return tree[path]

    def forbid(path: str) -> None:
        if path in tree:
            raise ServiceError(400, "A file with this name already exists")
        if any(p.startswith(path.rstrip("/") + "/") for p in tree):
            raise ServiceError(400, "A directory with this name already exists")

    for act in actions:
        path = act.file_path.strip("/")
        if not path or any(part in ("", ".", "..") for part in path.split("/")):
            raise ServiceError(400, "Path cannot include directory traversal")
        if act.action == "create":
            forbid(path)
            tree[path] = Blob(act.content or b"", bool(act.execute_filemode))
        elif act.action == "update":
            old = require(path)
            tree[path] = Blob(act.content or b"", old.executable)
        elif act.action == "delete":
            require(path)
            del tree[path]
        elif act.action == "move":
            old = require((act.previous_path or "").strip("/"))
            forbid(path)
            del tree[(act.previous_path or "").strip("/")]
            data = old.data if act.content is None else act.content
            tree[path] = Blob(data, old.executable)
        else:  # chmod
            old = require(path)
            tree[path] = Blob(old.data, bool(act.execute_filemode))
    return tree


def commit(
    state: State,
    project: Project,
    user: User | None,
    *,
    branch: str,
    message: str,
    actions: Sequence[Action],
    start_branch: str | None = None,
    start_sha: str | None = None,
    author_name: str | None = None,
    author_email: str | None = None,
    force: bool = False,
) -> Commit:
    """Commits::CreateService: one commit on `branch`, created from `start_branch`
    (or `start_sha`) when it does not exist yet. `user=None` seeds without access checks."""
    repo = project.repository
    if user is not None:
        require_push(state, project, user, branch)
    if start_branch and start_sha:
        raise ServiceError(400, "start_branch, start_sha are mutually exclusive", key="error")
    if not valid_ref_name(branch):
        raise ServiceError(400, "Branch name is invalid")
    start: Commit | None
    if start_sha:
        start = repo.commits.get(start_sha) if _FULL_SHA.match(start_sha) else None
        if start is None:
            raise ServiceError(400, f"Invalid start_sha: {start_sha}")
    else:
        start_branch = start_branch or branch
        if not repo.empty and start_branch not in repo.branches:
            raise ServiceError(400, "You can only create or edit files when you are on a branch")
        start = repo.commits[repo.branches[start_branch]] if start_branch in repo.branches else None
    if branch in repo.branches and (start_sha or start_branch != branch) and not force:
        raise ServiceError(
            400,
            f"A branch called '{branch}' already exists. "
            "Switch to that branch in order to make changes",
        )
    files = apply_actions(start.files if start else {}, actions)
    now = state.now()
    new = repo.write_commit(
        files,
        [start.id] if start else [],
        message,
        signature(user, now, name=author_name, email=author_email),
        signature(user, now),
    )
    repo.branches[branch] = new.id
    return new


# -- branches and tags ------------------------------------------------------------------


def create_branch(project: Project, name: str, ref: str) -> Commit:
    repo = project.repository
    if not valid_ref_name(name):
        raise ServiceError(400, "Branch name is invalid")
    if name in repo.branches:
        raise ServiceError(400, "Branch already exists")
    target = repo.resolve(ref) if ref else None
    if target is None:
        raise ServiceError(400, f"Invalid reference name: {ref}")
    repo.branches[name] = target.id
    return target


def delete_branch(project: Project, name: str) -> None:
    if name not in project.repository.branches:
        raise ServiceError(404, "404 Branch Not Found")
    if name == project.default_branch:
        raise ServiceError(405, "The default branch of a project cannot be deleted.")
    del project.repository.branches[name]


def create_tag(
    state: State, project: Project, user: User | None, name: str, ref: str, message: str | None
) -> Tag:
    repo = project.repository
    if not valid_ref_name(name):
        raise ServiceError(400, "Tag name invalid")
    if name in repo.tags:
        raise ServiceError(400, f"Tag {name} already exists")
    target = resolve(project, ref) if ref else None
    if target is None:
        raise ServiceError(400, f"Target {ref} is invalid")
    text = (message or "").strip()
    tagger = signature(user, state.now()) if text else None
    tag = Tag(name, target.id, text or None, tagger)
    repo.tags[name] = tag
    return tag


def delete_tag(project: Project, name: str) -> None:
    if name not in project.repository.tags:
        raise ServiceError(404, "No such tag")
    del project.repository.tags[name]
