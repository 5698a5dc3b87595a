"""The archive route (repositories.md, "Get file archive"):
`GET /projects/:id/repository/archive[.format]` with `sha` and `path`.

GitLab's answers: a format outside the documented list matches no route
(`{"error": "404 Not Found"}`); an unknown `sha`, or a `path` holding no file,
makes `git archive` fail, which the API turns into `{"message": "404 File Not Found"}`.
The body is the archive, `Content-Disposition: attachment; filename="<prefix>.<ext>"`,
as Workhorse sends it.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from tests.fake_gitlab import render_archive
from tests.fake_gitlab.plumbing import json_response, readable_project, the_fake
from tests.fake_gitlab.repo_services import resolve
from tests.fake_gitlab.state import NotFound

archive_api = Blueprint("archive_api", __name__, url_prefix="/api/v4/projects/<ref>")


@archive_api.get("/repository/archive")
def get_default_archive(ref: str) -> Response:
    return _archive(ref, "tar.gz")


@archive_api.get("/repository/archive.<suffix>")
def get_archive(ref: str, suffix: str) -> Response:
    return _archive(ref, suffix)


def _archive(ref: str, suffix: str) -> Response:
    kind = render_archive.FORMATS.get(suffix)
    if kind is None:
        return json_response({"error": "404 Not Found"}, 404)
    sha = request.args.get("sha") or None
    path = request.args.get("path") or ""
    fake = the_fake()
    with fake.state.lock:
        project = readable_project(ref)
        commit = resolve(project, sha)
        if commit is None:
            raise NotFound("404 File Not Found")
        files = render_archive.selected(commit, path)
        if not files:
            raise NotFound("404 File Not Found")
        top = render_archive.prefix(project.path, sha or project.default_branch, commit.id, path)
    body = render_archive.archive(commit, files, top, kind)
    response = Response(
        body, content_type=render_archive.CONTENT_TYPES.get(kind, "application/octet-stream")
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{top}.{kind}"'
    response.headers["Content-Transfer-Encoding"] = "binary"
    return response
