"""Which calls check a flag: the default flag APIs, and those a project declares.

A call is a check only when it is made on a flag API; `widget.enabled("x")` is a
widget's business, not a check of flag `x`. By default the flag APIs are

- the `flags.enabled(...)` style: a method of `SPELLINGS` on a receiver named `flags`
  (`flags.enabled(F)`, `self.flags.is_enabled(F, actor)`), or on anything imported
  from the `flags` package: `from flags import enabled`, and names annotated with or
  built from one of its classes (`engine: Flags`, `engine = Flags(store)`);
- the `Feature.enabled(...)` style, GitLab's `Feature.enabled?`: a receiver named
  `Feature`.

A project declares its own in its `pyproject.toml` (`DECLARATION_PATH`, read from
the same path -> text mapping as the code, so the cleanup merge request, which
reads the repository through the API, sees it too)::

    [tool.rollout-bot]
    flag-apis = ["myapp.features.is_on", "not myapp.features.is_off", "Feature.enabled"]

Each entry is the dotted name of a function or method whose first argument (or
`name=`, `feature_name=`, `flag=`) is the flag's name. It matches a call whose name,
resolved through the module's imports, ends with it (`is_on(F)` after `from
myapp.features import is_on`, `features.is_on(F)` after `from myapp import
features`); or whose name as written ends with it (`Feature.enabled(F)`); or, for
`pkg.mod.Class.method`, a method called on a name annotated with or built from that
class. A bare name (`"is_on"`) matches only a bare call. `not ` marks a check that is
true when the flag is off, as are `disabled` and `is_disabled`.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

import libcst as cst

from flags.cleanup.imports import ModuleNames, chain_of
from flags.cleanup.spellings import BAD_DECLARATION, NAME_KEYWORDS, SPELLINGS, Leftover

DECLARATION_PATH = "pyproject.toml"
DEFAULT_RECEIVERS = frozenset({"flags", "Feature"})
FLAGS_PACKAGE = "flags"
NEGATION = "not "
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class CallShape:
    """How a call names what it calls, the same from `ast` and from libcst."""

    method: str
    receiver: tuple[str, ...] | None  # () for a bare call; None when not a dotted name
    constructor: tuple[str, ...] | None = None  # `Flags(store).enabled`: ("Flags",)


@dataclass(frozen=True)
class FlagApi:
    parts: tuple[str, ...]  # "Feature.enabled" -> ("Feature", "enabled")
    positive: bool

    @classmethod
    def parse(cls, entry: str) -> FlagApi | None:
        negated = entry.startswith(NEGATION)
        dotted = entry[len(NEGATION) :].strip() if negated else entry.strip()
        if not _DOTTED.match(dotted):
            return None
        parts = tuple(dotted.split("."))
        return cls(parts, False if negated else SPELLINGS.get(parts[-1], True))


@dataclass(frozen=True)
class FlagApis:
    """The default flag APIs and the declared ones (see the module docstring)."""

    declared: tuple[FlagApi, ...] = ()

    @property
    def methods(self) -> frozenset[str]:
        """The names a check is called by: what a file must spell to hold one."""
        return frozenset(SPELLINGS) | {api.parts[-1] for api in self.declared}

    def check(self, shape: CallShape | None, names: ModuleNames) -> bool | None:
        """The constant a check of a removed flag becomes; None when not a flag API."""
        if shape is None or shape.method not in self.methods:
            return None
        receiver = shape.receiver
        written = None if receiver is None else (*receiver, shape.method)
        qualified = None if written is None else names.resolve(written)
        built = names.class_of(receiver) if receiver else None
        if shape.constructor is not None:
            built = names.resolve(shape.constructor)
        candidates = [
            ".".join(written) if written is not None else None,
            qualified,
            f"{built}.{shape.method}" if built is not None else None,
        ]
        for api in self.declared:
            if api.parts[-1] != shape.method:
                continue
            if len(api.parts) == 1:
                if receiver == ():
                    return api.positive
            elif any(_ends_with(c, api.parts) for c in candidates if c is not None):
                return api.positive
        positive = SPELLINGS.get(shape.method)
        if positive is None:
            return None
        if receiver and receiver[-1] in DEFAULT_RECEIVERS:
            return positive
        if any(_in_package(q) for q in (qualified, built) if q is not None):
            return positive
        return None


DEFAULT_APIS = FlagApis()


def _ends_with(qualified: str, parts: tuple[str, ...]) -> bool:
    dotted = ".".join(parts)
    return qualified == dotted or qualified.endswith("." + dotted)


def _in_package(qualified: str) -> bool:
    return qualified == FLAGS_PACKAGE or qualified.startswith(FLAGS_PACKAGE + ".")


def declared_apis(files: Mapping[str, str]) -> tuple[FlagApis, Leftover | None]:
    """The flag APIs `files` declare in their root `pyproject.toml`, and what was wrong.

    A declaration that cannot be read is reported (a leftover on `pyproject.toml`)
    rather than raised: the entries that can be read are used, with the defaults.
    """
    path = next((p for p in files if _is_declaration(p)), None)
    if path is None:
        return DEFAULT_APIS, None
    try:
        table = tomllib.loads(files[path])
    except tomllib.TOMLDecodeError as exc:
        return DEFAULT_APIS, Leftover(path, 1, BAD_DECLARATION.format(error=exc))
    entries: object = table
    for key in ("tool", "rollout-bot", "flag-apis"):
        entries = entries.get(key, {}) if isinstance(entries, dict) else None
    line = _line_of(files[path], "flag-apis")
    if entries == {}:
        return DEFAULT_APIS, None
    if not isinstance(entries, list):
        return DEFAULT_APIS, Leftover(path, line, BAD_DECLARATION.format(error="not a list"))
    apis = [FlagApi.parse(e) if isinstance(e, str) else None for e in entries]
    bad = [repr(e) for e, api in zip(entries, apis, strict=True) if api is None]
    problem = None
    if bad:
        problem = Leftover(
            path, line, BAD_DECLARATION.format(error="not a dotted name: " + ", ".join(bad))
        )
    return FlagApis(tuple(api for api in apis if api is not None)), problem


def _is_declaration(path: str) -> bool:
    return PurePosixPath(path.replace("\\", "/")).as_posix() == DECLARATION_PATH


def _line_of(text: str, word: str) -> int:
    return next((n for n, line in enumerate(text.splitlines(), 1) if word in line), 1)


# -- the shape of a call, from either tree


def ast_shape(call: ast.Call) -> CallShape | None:
    func = call.func
    if isinstance(func, ast.Name):
        return CallShape(func.id, ())
    if not isinstance(func, ast.Attribute):
        return None
    built = chain_of(func.value.func) if isinstance(func.value, ast.Call) else None
    return CallShape(func.attr, chain_of(func.value), built)


def ast_name_argument(call: ast.Call) -> ast.expr | None:
    """The argument that holds the flag's name: the first, or a name keyword."""
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg in NAME_KEYWORDS), None)


def _cst_chain(expr: cst.BaseExpression) -> tuple[str, ...] | None:
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.insert(0, expr.attr.value)
        expr = expr.value
    return (expr.value, *parts) if isinstance(expr, cst.Name) else None


def cst_shape(call: cst.Call) -> CallShape | None:
    func = call.func
    if isinstance(func, cst.Name):
        return CallShape(func.value, ())
    if not isinstance(func, cst.Attribute):
        return None
    built = _cst_chain(func.value.func) if isinstance(func.value, cst.Call) else None
    receiver = _cst_chain(func.value)
    return CallShape(func.attr.value, receiver, built)


def cst_name_argument(call: cst.Call) -> cst.BaseExpression | None:
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in NAME_KEYWORDS:
            return arg.value
    return None
