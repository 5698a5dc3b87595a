"""Repository routes: commits (commits.md), branches (branches.md), files
(repository_files.md), tree, compare and merge base (repositories.md), tags (tags.md).

GitLab's error bodies: `{"message": "404 Commit Not Found"}` for a missing ref,
`{"message": "A file with this name already exists"}` for a failed commit,
`{"error": "branch is missing"}` for a missing parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, Response, request

from tests.fake_gitlab import render_git, repo_services
from tests.fake_gitlab.models import DEVELOPER, Project
from tests.fake_gitlab.plumbing import (
    ApiError,
    as_bool,
    choice,
    json_response,
    paginated,
    readable_project,
    request_params,
    the_fake,
    the_user,
)
from tests.fake_gitlab.repo_services import Action, ServiceError, parse_actions, resolve
from tests.fake_gitlab.repository import Commit, diff_files
from tests.fake_gitlab.state import NotFound

repository_api = Blueprint("repository_api", __name__, url_prefix="/api/v4/projects/<ref>")


def _require(params: dict[str, Any], *names: str) -> None:
    missing = [name for name in names if params.get(name) in (None, "")]
    if missing:
        raise ApiError(400, {"error": ", ".join(f"{name} is missing" for name in missing)})


def _commit(project: Project, ref: str | None, what: str = "Commit") -> Commit:
    found = resolve(project, ref)
    if found is None:
        raise NotFound(f"404 {what} Not Found")
    return found


def _require_developer(project: Project) -> None:
    """authorize_push_project: Developers and up (branches and tags)."""
    user = the_user()
    if repo_services.access_level(the_fake().state, project, user) < DEVELOPER:
        if not user.is_admin:
            raise ApiError(403, {"message": "403 Forbidden"})


def _date_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, {"error": f"{name} is invalid"}) from None


# -- commits --------------------------------------------------------------------------------


def _history(project: Project, ref_name: str) -> tuple[list[str], list[str]]:
    """Heads and exclusions for `ref_name`: a ref, `a..b` or `a...b` (empty when unknown)."""
    repo = project.repository
    for separator in ("...", ".."):
        if separator in ref_name:
            left, right = (resolve(project, part) for part in ref_name.split(separator, 1))
            if left is None or right is None:
                return [], []
            if separator == "..":
                return [right.id], [left.id]
            base = repo.merge_base([left.id, right.id])
            return [left.id, right.id], [base.id] if base else []
    head = resolve(project, ref_name)
    return ([head.id] if head else []), []


@repository_api.get("/repository/commits")
def list_commits(ref: str) -> Response:
    fake = the_fake()
    since, until = _date_arg("since"), _date_arg("until")
    with fake.state.lock:
        project = readable_project(ref)
        repo = project.repository
        if as_bool(request.args.get("all")):
            heads = [*repo.branches.values(), *(t.commit_id for t in repo.tags.values())]
            exclude: list[str] = []
        else:
            heads, exclude = _history(project, request.args.get("ref_name") or "HEAD")
        commits = repo.log(
            heads,
            exclude=exclude,
            first_parent=as_bool(request.args.get("first_parent")),
            path=request.args.get("path") or None,
        )
        commits = [
            c
            for c in commits
            if (since is None or c.committer.when >= since)
            and (until is None or c.committer.when <= until)
        ]
        with_stats = as_bool(request.args.get("with_stats"))
        found = [
            render_git.commit(fake.state, fake.web_url, project, c)
            | ({"stats": render_git.stats(project, c)} if with_stats else {})
            for c in commits
        ]
    return paginated(found, totals=False)


@repository_api.post("/repository/commits")
def create_commit(ref: str) -> Response:
    fake = the_fake()
    params = request_params()
    _require(params, "branch", "commit_message")
    actions = parse_actions(params.get("actions"))
    with fake.state.lock:
        project = readable_project(ref)
        new = repo_services.commit(
            fake.state,
            project,
            the_user(),
            branch=str(params["branch"]),
            message=str(params["commit_message"]),
            actions=actions,
            start_branch=params.get("start_branch") or None,
            start_sha=params.get("start_sha") or None,
            author_name=params.get("author_name") or None,
            author_email=params.get("author_email") or None,
            force=as_bool(params.get("force")),
        )
        with_stats = as_bool(params.get("stats", True))
        body = render_git.commit_detail(
            fake.state, fake.web_url, project, new, with_stats=with_stats
        )
    return json_response(body, 201)


@repository_api.get("/repository/commits/<sha>")
def get_commit(ref: str, sha: str) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        found = _commit(project, unquote(sha))
        with_stats = as_bool(request.args.get("stats", True))
        body = render_git.commit_detail(
            fake.state, fake.web_url, project, found, with_stats=with_stats
        )
    return json_response(body)


@repository_api.get("/repository/commits/<sha>/diff")
def get_commit_diff(ref: str, sha: str) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        found = _commit(project, unquote(sha))
        repo = project.repository
        parent = repo.commits[found.parent_ids[0]].files if found.parent_ids else {}
        diffs = [render_git.diff(d) for d in diff_files(parent, found.files)]
    return paginated(diffs)


@repository_api.get("/repository/commits/<sha>/refs")
def get_commit_refs(ref: str, sha: str) -> Response:
    fake = the_fake()
    kind = choice("type", "all", ("branch", "tag", "all"))
    with fake.state.lock:
        project = readable_project(ref)
        found = _commit(project, unquote(sha))
        branches, tags = project.repository.refs_containing(found.id)
    refs = [{"type": "branch", "name": name} for name in branches if kind != "tag"]
    refs += [{"type": "tag", "name": name} for name in tags if kind != "branch"]
    return paginated(refs)


# -- branches -------------------------------------------------------------------------------


@repository_api.get("/repository/branches")
def list_branches(ref: str) -> Response:
    fake = the_fake()
    search = request.args.get("search", "")
    with fake.state.lock:
        project = readable_project(ref)
        names = sorted(project.repository.branches)
        if search.startswith("^"):
            names = [n for n in names if n.startswith(search[1:])]
        elif search.endswith("$"):
            names = [n for n in names if n.endswith(search[:-1])]
        elif search:
            names = [n for n in names if search.lower() in n.lower()]
        found = [
            render_git.branch(fake.state, fake.web_url, project, name, the_user()) for name in names
        ]
    return paginated(found)


@repository_api.post("/repository/branches")
def create_branch(ref: str) -> Response:
    fake = the_fake()
    params = request_params()
    _require(params, "branch", "ref")
    name = str(params["branch"])
    with fake.state.lock:
        project = readable_project(ref)
        _require_developer(project)
        repo_services.create_branch(project, name, str(params["ref"]))
        body = render_git.branch(fake.state, fake.web_url, project, name, the_user())
    return json_response(body, 201)


@repository_api.get("/repository/branches/<branch>")
def get_branch(ref: str, branch: str) -> Response:
    fake = the_fake()
    name = unquote(branch)
    with fake.state.lock:
        project = readable_project(ref)
        if name not in project.repository.branches:
            raise NotFound("404 Branch Not Found")
        body = render_git.branch(fake.state, fake.web_url, project, name, the_user())
    return json_response(body)


@repository_api.delete("/repository/branches/<branch>")
def delete_branch(ref: str, branch: str) -> Response:
    fake = the_fake()
    name = unquote(branch)
    with fake.state.lock:
        project = readable_project(ref)
        _require_developer(project)
        repo_services.delete_branch(project, name)
    return Response(status=204)


# -- files ----------------------------------------------------------------------------------


def _file(ref: str, file_path: str, at: str | None) -> tuple[dict[str, Any], bytes]:
    fake = the_fake()
    path = unquote(file_path)
    with fake.state.lock:
        project = readable_project(ref)
        found = _commit(project, at)
        blob = found.files.get(path)
        if blob is None:
            raise NotFound("404 File Not Found")
        return render_git.file(project, path, at or "HEAD", found, blob), blob.data


@repository_api.get("/repository/files/<file_path>")
def get_file(ref: str, file_path: str) -> Response:
    if not request.args.get("ref"):
        raise ApiError(400, {"error": "ref is missing"})
    data, _ = _file(ref, file_path, request.args["ref"])
    response = json_response(data)
    response.headers.update(render_git.file_headers(data))
    return response


@repository_api.get("/repository/files/<file_path>/raw")
def get_raw_file(ref: str, file_path: str) -> Response:
    data, content = _file(ref, file_path, request.args.get("ref") or None)
    response = Response(content, content_type="text/plain; charset=utf-8")
    response.headers.update(render_git.file_headers(data))
    return response


def _write_file(ref: str, file_path: str, action: str) -> Response:
    """POST, PUT and DELETE on a file: one commit with one action."""
    fake = the_fake()
    params = request_params()
    path = unquote(file_path)
    _require(params, "branch", *(() if action == "delete" else ("content",)), "commit_message")
    encoding = params.get("encoding") or "text"
    if encoding not in ("text", "base64"):
        raise ApiError(400, {"error": "encoding does not have a valid value"})
    content = None
    if action != "delete":
        content = repo_services.decode_content(str(params["content"]), encoding)
    mode = params.get("execute_filemode")
    actions = [
        Action(
            action,
            path,
            content,
            execute_filemode=None if mode is None else as_bool(mode),
        )
    ]
    if action != "delete" and mode is not None:
        actions.append(Action("chmod", path, execute_filemode=as_bool(mode)))
    branch = str(params["branch"])
    with fake.state.lock:
        project = readable_project(ref)
        last_known = params.get("last_commit_id")
        current = resolve(project, params.get("start_branch") or branch)
        if last_known and current is not None and path in current.files:
            if project.repository.last_commit_for(current, path).id != last_known:
                raise ServiceError(
                    400,
                    "You are attempting to update a file that has changed "
                    "since you started editing it.",
                )
        repo_services.commit(
            fake.state,
            project,
            the_user(),
            branch=branch,
            message=str(params["commit_message"]),
            actions=actions,
            start_branch=params.get("start_branch") or None,
            author_name=params.get("author_name") or None,
            author_email=params.get("author_email") or None,
        )
    if action == "delete":
        return Response(status=204)
    return json_response({"file_path": path, "branch": branch}, 201 if action == "create" else 200)


@repository_api.post("/repository/files/<file_path>")
def create_file(ref: str, file_path: str) -> Response:
    return _write_file(ref, file_path, "create")


@repository_api.put("/repository/files/<file_path>")
def update_file(ref: str, file_path: str) -> Response:
    return _write_file(ref, file_path, "update")


@repository_api.delete("/repository/files/<file_path>")
def delete_file(ref: str, file_path: str) -> Response:
    return _write_file(ref, file_path, "delete")


# -- tree, compare, merge base ------------------------------------------------------------


@repository_api.get("/repository/tree")
def get_tree(ref: str) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        found = _commit(project, request.args.get("ref") or None, "Tree")
        entries = project.repository.tree(
            found,
            request.args.get("path", ""),
            recursive=as_bool(request.args.get("recursive")),
        )
        if entries is None:
            raise NotFound("404 Tree Not Found")
    return paginated([render_git.tree_entry(e) for e in entries])


@repository_api.get("/repository/compare")
def compare(ref: str) -> Response:
    fake = the_fake()
    _require(dict(request.args), "from", "to")
    from_ref, to_ref = request.args["from"], request.args["to"]
    with fake.state.lock:
        project = readable_project(ref)
        repo = project.repository
        source, target = resolve(project, from_ref), resolve(project, to_ref)
        if source is None or target is None:
            raise NotFound("404 Ref Not Found")
        if as_bool(request.args.get("straight")):
            base: Commit | None = source
        else:
            base = repo.merge_base([source.id, target.id]) or source
        commits = list(reversed(repo.log([target.id], exclude=[source.id])))
        diffs = diff_files(base.files if base else {}, target.files)
        body = render_git.compare(
            fake.state,
            fake.web_url,
            project,
            commits,
            diffs,
            source.id,
            target.id,
            from_ref == to_ref,
        )
    return json_response(body)


@repository_api.get("/repository/merge_base")
def merge_base(ref: str) -> Response:
    fake = the_fake()
    refs = request.args.getlist("refs[]") or request.args.getlist("refs")
    if not refs:
        raise ApiError(400, {"error": "refs is missing"})
    if len(refs) < 2:
        raise ApiError(400, {"message": "Provide at least 2 refs"})
    with fake.state.lock:
        project = readable_project(ref)
        commits = [resolve(project, r) for r in refs]
        unknown = [r for r, c in zip(refs, commits, strict=True) if c is None]
        if unknown:
            noun = "ref" if len(unknown) == 1 else "refs"
            raise ApiError(400, {"message": f"Could not find {noun}: {', '.join(unknown)}"})
        found = project.repository.merge_base(c.id for c in commits if c is not None)
        if found is None:
            raise NotFound("404 Merge Base Not Found")
        return json_response(render_git.commit(fake.state, fake.web_url, project, found))


# -- tags -----------------------------------------------------------------------------------


@repository_api.get("/repository/tags")
def list_tags(ref: str) -> Response:
    fake = the_fake()
    order_by = choice("order_by", "updated", ("name", "updated", "version"))
    descending = choice("sort", "desc", ("asc", "desc")) == "desc"
    search = request.args.get("search", "")
    with fake.state.lock:
        project = readable_project(ref)
        repo = project.repository
        tags = list(repo.tags.values())
        if search.startswith("^"):
            tags = [t for t in tags if t.name.startswith(search[1:])]
        elif search.endswith("$"):
            tags = [t for t in tags if t.name.endswith(search[:-1])]
        elif search:
            tags = [t for t in tags if search in t.name]
        if order_by == "updated":
            tags.sort(key=lambda t: (repo.commits[t.commit_id].committer.when, t.name))
        elif order_by == "version":
            tags.sort(key=lambda t: _version_key(t.name))
        else:
            tags.sort(key=lambda t: t.name)
        if descending:
            tags.reverse()
        found = [render_git.tag(fake.state, fake.web_url, project, t) for t in tags]
    return paginated(found)


def _version_key(name: str) -> tuple[tuple[int, int | str], ...]:
    parts = name.lstrip("vV").replace("-", ".").split(".")
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


@repository_api.post("/repository/tags")
def create_tag(ref: str) -> Response:
    fake = the_fake()
    params = request_params()
    _require(params, "tag_name", "ref")
    with fake.state.lock:
        project = readable_project(ref)
        user = the_user()
        _require_developer(project)
        tag = repo_services.create_tag(
            fake.state,
            project,
            user,
            str(params["tag_name"]),
            str(params["ref"]),
            params.get("message"),
        )
        return json_response(render_git.tag(fake.state, fake.web_url, project, tag), 201)


@repository_api.get("/repository/tags/<tag_name>")
def get_tag(ref: str, tag_name: str) -> Response:
    fake = the_fake()
    name = unquote(tag_name)
    with fake.state.lock:
        project = readable_project(ref)
        tag = project.repository.tags.get(name)
        if tag is None:
            raise NotFound("404 Tag Not Found")
        return json_response(render_git.tag(fake.state, fake.web_url, project, tag))


@repository_api.delete("/repository/tags/<tag_name>")
def delete_tag(ref: str, tag_name: str) -> Response:
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        _require_developer(project)
        repo_services.delete_tag(project, unquote(tag_name))
    return Response(status=204)
