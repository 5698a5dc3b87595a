"""Settings from `ROLLOUT_BOT_*` environment variables, read when asked, never at import."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flags.definitions import configured_roots
from flags.environments import DEFAULT_ENVIRONMENTS
from webhook.verification import MAX_BODY_BYTES

PREFIX = "ROLLOUT_BOT_"
DEFAULT_DATABASE_FILE = "rollout-bot.sqlite3"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""


def _environments(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return DEFAULT_ENVIRONMENTS
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        if not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{PREFIX}ENVIRONMENTS: '{name}' is not a valid environment name")
    if "production" not in names:
        raise ConfigError(f"{PREFIX}ENVIRONMENTS must include 'production' (the default target)")
    return names


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(f"{PREFIX}{name}", "").strip().lower() in ("1", "true", "yes")


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(f"{PREFIX}{name}")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{name}: '{raw}' is not a whole number") from exc
    if value < minimum:
        raise ConfigError(
            f"{PREFIX}{name} must be positive"
            if minimum == 1
            else f"{PREFIX}{name} must be {minimum} or more"
        )
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(f"{PREFIX}{name}")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{name}: '{raw}' is not a number") from exc
    if value <= 0:
        raise ConfigError(f"{PREFIX}{name} must be positive")
    return value


def _access_levels(env: Mapping[str, str]) -> dict[str, int]:
    """ROLLOUT_BOT_ACCESS_<ENV>=developer|maintainer|owner|<number>, e.g. ..._STAGING_REF."""
    from gitlab_ops.access import parse_level

    levels: dict[str, int] = {}
    for key, raw in env.items():
        if key.startswith(f"{PREFIX}ACCESS_") and raw:
            environment = key[len(f"{PREFIX}ACCESS_") :].lower().replace("_", "-")
            try:
                levels[environment] = parse_level(raw)
            except ValueError as exc:
                raise ConfigError(f"{key}: {exc}") from exc
    return levels


@dataclass(frozen=True)
class InstanceSettings:
    """A GitLab instance whose Features API holds one environment's flags."""

    url: str
    token: str = field(repr=False)  # an administrator's token; kept out of logs
    timeout: float = 10.0  # seconds a Features API call may take before it is retried later


def _instances(
    env: Mapping[str, str], environments: tuple[str, ...]
) -> dict[str, InstanceSettings]:
    """ROLLOUT_BOT_ENV_<ENV>_GITLAB_URL with ROLLOUT_BOT_ENV_<ENV>_TOKEN, e.g. ..._STAGING_REF_."""
    found: dict[str, dict[str, str]] = {}
    for key, raw in env.items():
        if not key.startswith(f"{PREFIX}ENV_") or not raw.strip():
            continue
        for part in ("GITLAB_URL", "TOKEN"):
            if key.endswith(f"_{part}"):
                name = key[len(f"{PREFIX}ENV_") : -len(f"_{part}")].lower().replace("_", "-")
                found.setdefault(name, {})[part] = raw.strip()
    instances: dict[str, InstanceSettings] = {}
    for name, parts in sorted(found.items()):
        var = f"{PREFIX}ENV_{name.upper().replace('-', '_')}"
        if name not in environments:
            raise ConfigError(
                f"{var}_*: '{name}' is not one of {PREFIX}ENVIRONMENTS ({', '.join(environments)})"
            )
        if "GITLAB_URL" not in parts:
            raise ConfigError(f"{var}_TOKEN is set without {var}_GITLAB_URL: set both, or neither")
        if "TOKEN" not in parts:
            raise ConfigError(
                f"{var}_GITLAB_URL is set without {var}_TOKEN (an administrator's token): "
                "set both, or neither"
            )
        url = parts["GITLAB_URL"].rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"{var}_GITLAB_URL: '{url}' is not an http(s) URL")
        instances[name] = InstanceSettings(url=url, token=parts["TOKEN"])
    return instances


def _project_ids(raw: str | None) -> frozenset[int] | None:
    if not raw:
        return None
    try:
        return frozenset(int(item) for item in raw.split(",") if item.strip())
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}PROJECT_IDS: '{raw}' is not a list of project ids") from exc


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass(frozen=True)
class Settings:
    database_url: str
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    definitions: tuple[Path, ...] = field(default_factory=tuple)
    gitlab_url: str | None = None
    gitlab_token: str | None = field(default=None, repr=False)  # kept out of logs
    webhook_secret: str | None = field(default=None, repr=False)  # kept out of logs
    signing_secret: str | None = field(default=None, repr=False)  # kept out of logs
    local_trial: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    dashboard_token: str | None = field(default=None, repr=False)  # kept out of logs
    access_levels: Mapping[str, int] = field(default_factory=dict)
    # environment -> the GitLab instance holding its flags (not the bot's database)
    instances: Mapping[str, InstanceSettings] = field(default_factory=dict)
    project_ids: frozenset[int] | None = None
    worker_threads: int = 4
    lease_seconds: float = 60.0
    max_attempts: int = 8
    retry_base_seconds: float = 2.0
    max_steps_per_edit: int = 50
    # Finished deliveries, posted issue updates and remembered runs older than this go.
    retention_days: int = 30
    # Delivery workers yield the CPU to the web process: an acknowledgement is owed in
    # GitLab's 10 s, processing is not (os.nice increment; 0 leaves the priority alone).
    worker_nice: int = 10
    user: str = "unknown"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        database_url = env.get(f"{PREFIX}DATABASE_URL") or (
            f"sqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"
        )
        environments = _environments(env.get(f"{PREFIX}ENVIRONMENTS"))
        return cls(
            database_url=database_url,
            environments=environments,
            definitions=tuple(configured_roots(env)),
            gitlab_url=env.get(f"{PREFIX}GITLAB_URL") or None,
            gitlab_token=env.get(f"{PREFIX}GITLAB_TOKEN") or None,
            webhook_secret=env.get(f"{PREFIX}WEBHOOK_SECRET") or None,
            signing_secret=env.get(f"{PREFIX}WEBHOOK_SIGNING_SECRET") or None,
            local_trial=_flag(env, "LOCAL_TRIAL"),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", MAX_BODY_BYTES),
            dashboard_token=env.get(f"{PREFIX}DASHBOARD_TOKEN") or None,
            access_levels=_access_levels(env),
            instances=_instances(env, environments),
            project_ids=_project_ids(env.get(f"{PREFIX}PROJECT_IDS")),
            worker_threads=_int(env, "WORKER_THREADS", 4),
            lease_seconds=_float(env, "LEASE_SECONDS", 60.0),
            max_attempts=_int(env, "MAX_ATTEMPTS", 8),
            retry_base_seconds=_float(env, "RETRY_BASE_SECONDS", 2.0),
            max_steps_per_edit=_int(env, "MAX_STEPS_PER_EDIT", 50),
            retention_days=_int(env, "RETENTION_DAYS", 30),
            worker_nice=_int(env, "WORKER_NICE", 10, minimum=0),
            user=env.get(f"{PREFIX}USER") or _login_name(),
        )
