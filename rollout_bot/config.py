"""Settings from `ROLLOUT_BOT_*` environment variables, read when asked, never at import."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flags.definitions import configured_roots

PREFIX = "ROLLOUT_BOT_"
DEFAULT_ENVIRONMENTS = ("dev", "staging", "staging-ref", "production")
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
    gitlab_token: str | None = None
    webhook_secret: str | None = None
    user: str = "unknown"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        database_url = env.get(f"{PREFIX}DATABASE_URL") or (
            f"sqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"
        )
        return cls(
            database_url=database_url,
            environments=_environments(env.get(f"{PREFIX}ENVIRONMENTS")),
            definitions=tuple(configured_roots(env)),
            gitlab_url=env.get(f"{PREFIX}GITLAB_URL") or None,
            gitlab_token=env.get(f"{PREFIX}GITLAB_TOKEN") or None,
            webhook_secret=env.get(f"{PREFIX}WEBHOOK_SECRET") or None,
            user=env.get(f"{PREFIX}USER") or _login_name(),
        )
