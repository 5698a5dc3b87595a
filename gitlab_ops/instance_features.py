"""One environment's flags on a GitLab instance, through python-gitlab's `features` manager.

https://docs.gitlab.com/api/features/ — every call needs an administrator's token.
The manager lists, sets and deletes; it has no single get, so a flag's state is read
from the list (`GET /features` lists only flags set at least once: absent means never
set, its definition's default). `key`, `namespace` and `force` are not among `set()`'s
named arguments and travel as extra parameters. Like every call of `gitlab_ops.client`,
nothing is retried here (`ONCE`): a timeout or 5xx raises `TransientGitLabError` and the
caller's retry policy decides; a refusal (403, 400, 404) is a `Refusal` naming the
environment, since nothing was changed by it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, Protocol
from urllib.parse import urlsplit

import gitlab.exceptions
import requests

from flags.errors import Refusal, RolloutError
from flags.grammar import Target
from flags.state import FlagState
from gitlab_ops.client import GITLAB_ERRORS, ONCE, TRANSIENT_STATUS, GitLab, GitLabResolver
from gitlab_ops.errors import TransientGitLabError, UnknownTarget
from gitlab_ops.feature_calls import Call, plan, state_from_gates

# Why GitLab says no, in words for the person who ticked the box.
REFUSED_BECAUSE = {
    401: "the token is not valid (ROLLOUT_BOT_ENV_{var}_TOKEN)",
    403: "the token is not an administrator's (the Features API needs one)",
    404: "not found there",
}


class InstanceRefused(Refusal):
    """The instance answered no (403, 400, 404...): nothing changed there."""


def instance_name(url: str) -> str:
    """How people know the instance: its host (and port), e.g. `gitlab.example.com`."""
    return urlsplit(url).netloc or url


class Instance(Protocol):
    """What the routing store asks of an environment's GitLab instance."""

    environment: str
    name: str

    @property
    def label(self) -> str: ...

    def states(self) -> dict[str, FlagState]: ...

    def state(self, name: str) -> FlagState | None: ...

    def defined(self, name: str) -> bool: ...

    def apply(self, name: str, current: FlagState | None, target: FlagState | None) -> None: ...

    def resolve(self, target: Target) -> str: ...


UNCONFIGURED = (
    "{environment} lives on the GitLab instance {name}: set {var}_GITLAB_URL and {var}_TOKEN "
    "(an administrator's token) to read or change it from here"
)


class UnconfiguredInstance:
    """An environment the bot's database records on an instance, in a process without that
    instance's settings (a shell lacking the administrator's token).

    Why not fall back to the database: nothing reads an instance environment's states
    there, so a change would be reported done while the instance never saw it, and a
    consistency check would judge by a stale copy. Every read and write refuses instead.
    """

    def __init__(self, environment: str, name: str) -> None:
        self.environment = environment
        self.name = name

    @property
    def label(self) -> str:
        return f"{self.environment} ({self.name})"

    def _refuse(self, *_: object) -> NoReturn:
        var = "ROLLOUT_BOT_ENV_" + self.environment.upper().replace("-", "_")
        raise InstanceRefused(
            UNCONFIGURED.format(environment=self.environment, name=self.name, var=var)
        )

    states = _refuse
    state = _refuse
    defined = _refuse
    apply = _refuse
    resolve = _refuse


class InstanceFeatures:
    def __init__(
        self,
        environment: str,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        self.environment = environment
        self.name = instance_name(url)
        self.client = GitLab(url, token, timeout=timeout, session=session)

    @property
    def label(self) -> str:
        return f"{self.environment} ({self.name})"

    # --- reads -------------------------------------------------------------------------

    def states(self) -> dict[str, FlagState]:
        """Every flag set at least once on the instance, by name."""
        features = self._call(
            "listing its flags",
            lambda gl: gl.features.list(get_all=True, **ONCE),
        )
        return {str(f.name): state_from_gates(f.gates or ()) for f in features}

    def state(self, name: str) -> FlagState | None:
        return self.states().get(name)

    def defined(self, name: str) -> bool:
        """Whether the instance's own YAML definitions (`GET /features/definitions`) know it."""
        definitions = self._call(
            "listing its flag definitions",
            lambda gl: gl.http_list("/features/definitions", get_all=True, **ONCE),
        )
        return any(isinstance(d, dict) and d.get("name") == name for d in definitions)

    def resolve(self, target: Target) -> str:
        """A command's `--project=a/b` (and the like) as this instance numbers it.

        Why here: the instance gives its projects, groups and users its own ids, so the
        id the bot's GitLab has for the same path would name another one there (or none).
        """
        try:
            return GitLabResolver(self.client).resolve(target)
        except UnknownTarget as exc:
            raise InstanceRefused(f"{self.label}: {exc}") from exc

    # --- writes ------------------------------------------------------------------------

    def apply(self, name: str, current: FlagState | None, target: FlagState | None) -> None:
        """Take `name` from `current` (as just read) to `target`; no call when they agree.

        Every actor's path is asked for before the first write: a plan may clear the flag
        and then set again what stays, and an actor the instance cannot name (refused)
        must not come between the two.
        """
        calls = plan(current, target)
        actors = {actor for call in calls for ids in call.targets.values() for actor in ids}
        known = {actor: self._path(actor) for actor in sorted(actors)}
        for call in calls:
            self._send(name, call, known)

    def _send(self, name: str, call: Call, known: dict[str, str]) -> None:
        if call.verb == "delete":
            self._call(f"deleting {name}", lambda gl: gl.features.delete(name, **ONCE))
            return
        paths = {p: ",".join(known[actor] for actor in ids) for p, ids in call.targets.items()}
        extra: dict[str, Any] = dict(ONCE)
        if call.key is not None:
            extra["key"] = call.key
        if "namespace" in paths:
            extra["namespace"] = paths["namespace"]
        self._call(
            f"setting {name} to {call.value}",
            lambda gl: gl.features.set(
                name,
                call.value,  # type: ignore[arg-type]  # the API reads "true", "25" alike
                feature_group=call.feature_group,
                user=paths.get("user"),
                group=paths.get("group"),
                project=paths.get("project"),
                **extra,
            ),
        )

    def _path(self, actor: str) -> str:
        """The Features API names actors by path or username, never by id: ask the instance."""
        kind, _, ref = actor.partition(":")
        where = {
            "User": f"/users/{ref}",
            "Group": f"/groups/{ref}",
            "Project": f"/projects/{ref}",
            "Namespace": f"/namespaces/{ref}",
        }[kind]
        found = self._call(f"finding {actor}", lambda gl: gl.http_get(where, **ONCE))
        assert isinstance(found, dict)
        key = {"User": "username", "Project": "path_with_namespace"}.get(kind, "full_path")
        return str(found[key])

    # --- errors ------------------------------------------------------------------------

    def _call(self, what: str, call: Callable[[gitlab.Gitlab], Any]) -> Any:
        try:
            return call(self.client.gl)
        except GITLAB_ERRORS as exc:
            raise self._translate(exc, what) from exc

    def _translate(self, exc: Exception, what: str) -> RolloutError:
        code = getattr(exc, "response_code", None)
        if not isinstance(exc, gitlab.exceptions.GitlabError) or code in TRANSIENT_STATUS:
            detail = f"GitLab answered {code}" if code else type(exc).__name__
            return TransientGitLabError(
                f"{self.label} did not answer {what} ({detail}); the step can be retried"
            )
        var = self.environment.upper().replace("-", "_")
        message = str(getattr(exc, "error_message", "") or exc)
        if code is None:  # no HTTP error: a body python-gitlab could not read (a sign-in page)
            return InstanceRefused(
                f"{self.label} refused {what}: its answer is not the Features API's "
                f"({message}): check ROLLOUT_BOT_ENV_{var}_GITLAB_URL"
            )
        because = REFUSED_BECAUSE.get(code, "").format(var=var)
        reason = f"{because}: {message}" if because else message
        return InstanceRefused(f"{self.label} refused {what}: {code} {reason}")
