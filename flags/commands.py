"""Running a parsed `feature` command against a store: the stateful checks and audit.

The pure checks happen in `flags.grammar`; here come the two that need state
(the flag is defined; staging/production consistency), then the change itself,
in one transaction with its audit rows. A refusal raises before anything is
written, so a refused command changes nothing and records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flags import results
from flags import state as st
from flags.actors import Resolver
from flags.definitions import Definition, Registry
from flags.errors import Refusal
from flags.grammar import FeatureCommand
from flags.results import Change, EnvironmentState, Result
from flags.state import FlagState
from flags.store import AuditRecord, Store, instance_of

PRODUCTION = "production"
STAGING = "staging"


@dataclass(frozen=True)
class Context:
    store: Store
    registry: Registry
    environments: tuple[str, ...]
    resolver: Resolver
    who: str
    source: str
    # Provenance the audit rows keep beside `who`: the GitLab user id (stable
    # where usernames are not) and the webhook delivery, when a bot ran it.
    who_id: int | None = None
    delivery: str | None = None
    # Environments whose actors another GitLab numbers (one on a GitLab instance): a
    # `--project=a/b` there is the id that instance gives a/b, not `resolver`'s.
    resolvers: Mapping[str, Resolver] = field(default_factory=dict)

    def resolver_for(self, environment: str) -> Resolver:
        return self.resolvers.get(environment, self.resolver)


def undefined_refusal(registry: Registry, name: str) -> Refusal:
    errors = registry.errors_for(name)
    if errors:
        return Refusal(
            f"flag '{name}' is not defined: its definition {errors[0].path} has errors "
            f"({errors[0].message}); run rollout-bot definitions validate"
        )
    return Refusal(
        f"flag '{name}' is not defined: add config/feature_flags/<type>/{name}.yml "
        "or check the spelling"
    )


def _definition(ctx: Context, name: str | None) -> Definition:
    assert name is not None  # the grammar guarantees a name for set/get/delete
    definition = ctx.registry.get(name)
    if definition is None:
        raise undefined_refusal(ctx.registry, name)
    return definition


def _effective(env: str, stored: FlagState | None, definition: Definition) -> EnvironmentState:
    if stored is None:
        return EnvironmentState(env, st.default_state(definition.default_enabled), True)
    return EnvironmentState(env, stored, False)


def _apply(command: FeatureCommand, current: FlagState, actors: frozenset[str]) -> FlagState:
    value = command.value
    try:
        if command.actors:
            assert isinstance(value, float)
            return st.set_percentage_of_actors(current, value)
        if command.random:
            assert isinstance(value, float)
            return st.set_percentage_of_time(current, value)
        if actors or command.feature_groups:
            groups = frozenset(command.feature_groups)
            if value is True:
                return st.enable_groups(st.enable_actors(current, actors), groups)
            return st.disable_groups(st.disable_actors(current, actors), groups)
        return st.enable(current) if value is True else st.disable(current)
    except st.InvalidOperation as exc:
        raise Refusal(str(exc)) from exc


def _is_production_enable(command: FeatureCommand) -> bool:
    if command.verb != "set" or command.targets or command.feature_groups:
        return False
    if command.is_percentage:
        return bool(command.value)
    return command.value is True


def consistency_refusal(
    command: FeatureCommand,
    name: str,
    before: dict[str, EnvironmentState],
    after: dict[str, EnvironmentState],
    touched: Sequence[str],
) -> Refusal | None:
    """GitLab ChatOps' rule: staging leads production, never the other way round."""
    if STAGING not in after or PRODUCTION not in after:
        return None
    hint = "or add --ignore-feature-flag-consistency-check"
    staging_off = after[STAGING].state.state == "off"
    if PRODUCTION in touched and _is_production_enable(command) and staging_off:
        return Refusal(
            f"consistency check: '{name}' is off on staging, so it cannot be enabled on "
            f"production; enable it on staging first (feature set {name} true --staging) {hint}"
        )
    production = after[PRODUCTION].state.state
    staging_disabled = before[STAGING].state.state != "off" and staging_off
    if STAGING in touched and staging_disabled and production != "off":
        how = "on" if production == "on" else "partly on"
        return Refusal(
            f"consistency check: '{name}' is {how} on production, so it cannot be disabled "
            f"on staging; disable it on production first {hint}"
        )
    return None


def _instances(ctx: Context) -> tuple[tuple[str, str], ...]:
    named = ((env, instance_of(ctx.store, env)) for env in ctx.environments)
    return tuple((env, instance) for env, instance in named if instance is not None)


def _audit(
    ctx: Context, action: str, name: str, change: Change, command: FeatureCommand
) -> list[AuditRecord]:
    def record(gate: str, before: object, after: object) -> AuditRecord:
        return AuditRecord(
            environment=change.environment,
            flag=name,
            action=action,
            gate=gate,
            before=before,
            after=after,
            who=ctx.who,
            source=ctx.source,
            user_id=ctx.who_id,
            delivery=ctx.delivery,
            command=command.text.strip() or None,
            instance=instance_of(ctx.store, change.environment),
        )

    rows = [
        record(gate, old, new)
        for gate, old, new in st.changed_gates(change.before.state, change.after.state)
    ]
    if not rows and change.changed:
        # Same gates, but the flag moved between "set" and "default".
        rows.append(
            record(
                "all",
                None if change.before.is_default else change.before.state.gates(),
                None if change.after.is_default else change.after.state.gates(),
            )
        )
    return rows


class AlreadyRun(Exception):
    """The command ran before under this key; `result` is the card it produced then."""

    def __init__(self, result: Any) -> None:
        super().__init__("already run")
        self.result = result


def _actors(
    ctx: Context, command: FeatureCommand, touched: Sequence[str]
) -> dict[str, frozenset[str]]:
    """The command's targets as each touched environment's GitLab numbers them."""
    by_resolver: dict[int, frozenset[str]] = {}
    actors: dict[str, frozenset[str]] = {}
    for env in touched:
        resolver = ctx.resolver_for(env)
        if id(resolver) not in by_resolver:
            by_resolver[id(resolver)] = frozenset(resolver.resolve(t) for t in command.targets)
        actors[env] = by_resolver[id(resolver)]
    return actors


def _mutate(ctx: Context, command: FeatureCommand, run_key: str | None) -> Result:
    definition = _definition(ctx, command.name)
    name = definition.name
    touched = command.environments or (PRODUCTION,)
    actors = _actors(ctx, command, touched)
    action = command.verb
    with ctx.store.transaction() as tx:
        if run_key is not None:
            prior = tx.recall(run_key)
            if prior is not None:
                raise AlreadyRun(prior)
        before = {env: _effective(env, tx.get(env, name), definition) for env in ctx.environments}
        after = dict(before)
        for env in touched:
            if command.verb == "delete":
                after[env] = _effective(env, None, definition)
            else:
                after[env] = EnvironmentState(
                    env, _apply(command, before[env].state, actors[env]), False
                )
        if not command.ignore_consistency:
            refusal = consistency_refusal(command, name, before, after, touched)
            if refusal is not None:
                raise refusal
        changes = tuple(Change(env, before[env], after[env]) for env in touched)
        for change in changes:
            if not change.changed:
                continue
            tx.put(
                change.environment, name, None if change.after.is_default else change.after.state
            )
            for row in _audit(ctx, action, name, change, command):
                tx.record(row)
        result = Result(command, (definition,), changes=changes, instances=_instances(ctx))
        if run_key is not None:
            tx.remember(run_key, results.card_json(result))
    return result


def _read(ctx: Context, command: FeatureCommand) -> Result:
    if command.verb == "list":
        definitions = [
            d
            for n, d in sorted(ctx.registry.definitions.items())
            if command.match is None or command.match in n
        ]
    else:
        definitions = [_definition(ctx, command.name)]
    envs = command.environments or ctx.environments
    snapshot = ctx.store.snapshot()
    states = tuple(
        (d.name, tuple(_effective(env, snapshot.get(env, d.name), d) for env in envs))
        for d in definitions
    )
    return Result(command, tuple(definitions), states=states, instances=_instances(ctx))


def execute(ctx: Context, command: FeatureCommand, run_key: str | None = None) -> Result:
    """Run a parsed command; raises Refusal (nothing changed) when it may not run.

    With a `run_key`, a change is remembered under it in its own transaction,
    and running the same key again raises AlreadyRun with the first result.
    """
    unknown = [env for env in command.environments if env not in ctx.environments]
    if unknown:
        raise Refusal(f"unknown environment {unknown[0]}; known: {', '.join(ctx.environments)}")
    if command.verb in ("set", "delete"):
        return _mutate(ctx, command, run_key)
    return _read(ctx, command)


def purge(ctx: Context, name: str) -> list[AuditRecord]:
    """Forget a flag's state in every environment, with or without its definition.

    `cleanup finish` runs after the definition was deleted, so unlike `feature
    delete` this needs none; the audit rows keep what was there.
    """
    rows: list[AuditRecord] = []
    with ctx.store.transaction() as tx:
        for env in ctx.environments:
            stored = tx.get(env, name)
            if stored is None:
                continue
            tx.put(env, name, None)
            row = AuditRecord(
                environment=env,
                flag=name,
                action="delete",
                gate="all",
                before=stored.gates(),
                after=None,
                who=ctx.who,
                source=ctx.source,
                user_id=ctx.who_id,
                delivery=ctx.delivery,
                instance=instance_of(ctx.store, env),
            )
            tx.record(row)
            rows.append(row)
    return rows
