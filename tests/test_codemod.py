"""The cleanup codemod: golden sample projects, the folding rules, and what it reports."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flags.cleanup import (
    BAD_DECLARATION,
    BUILT_AT_RUN_TIME,
    CHECK_KEPT,
    CONSTANT_KEPT,
    CONSTANT_USED,
    IN_COMMENT,
    IN_STRING,
    PASSED_TO,
    SPELLINGS,
    UNPARSABLE,
    WHILE_LOOP,
    Evaluation,
    FlagApi,
    FlagApis,
    RewriteResult,
    find_calls,
    find_evaluations,
    fragment,
    rewrite_project,
    rewrite_source,
)

SAMPLES = Path(__file__).resolve().parent / "cleanup_samples"
FLAG = "product_intelligence_database_event_tracking"

# What each sample project's rewrite cannot do, as the cleanup MR would list it.
LEFTOVERS: dict[str, list[str]] = {
    "branches": [],
    "constants": [],
    "early_returns": [],
    "flag_apis": [
        f"shop/names.py:1: {CONSTANT_KEPT.format(name='TRACKING')}",
        f"shop/worker.py:8: {WHILE_LOOP}",
    ],
    "imports": [],
    "two_flags": [],
    "leftovers": [
        f"app/admin.py:5: {IN_COMMENT}",
        f"app/admin.py:6: {PASSED_TO.format(callee='flags.store.set')}",
        f"app/dynamic.py:5: {BUILT_AT_RUN_TIME}",
        f"app/dynamic.py:9: {BUILT_AT_RUN_TIME}",
        f"app/dynamic.py:14: {PASSED_TO.format(callee='check')}",
    ],
}


def read_tree(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def leftover_lines(results: Mapping[str, RewriteResult]) -> list[str]:
    return sorted(str(leftover) for result in results.values() for leftover in result.leftovers)


def test_every_sample_has_expectations() -> None:
    assert sorted(p.name for p in SAMPLES.iterdir() if p.is_dir()) == sorted(LEFTOVERS)


@pytest.mark.parametrize("case", sorted(LEFTOVERS))
def test_golden_sample(case: str) -> None:
    before = read_tree(SAMPLES / case / "before")
    after = read_tree(SAMPLES / case / "after")
    assert sorted(before) == sorted(after)

    results = rewrite_project(before, FLAG)

    # Every Python file gets a result, other files none (the MR lists them instead).
    assert sorted(results) == sorted(p for p in before if p.endswith(".py"))
    for path, text in before.items():
        got = results[path].code if path in results else text
        assert got == after[path], f"{case}/{path} differs from its golden file"
        if path in results:
            assert results[path].changed == (text != after[path])
    assert leftover_lines(results) == sorted(LEFTOVERS[case])


@pytest.mark.parametrize("case", sorted(LEFTOVERS))
def test_golden_after_compiles_and_rewrites_to_itself(case: str) -> None:
    after = read_tree(SAMPLES / case / "after")
    for path, text in after.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
    results = rewrite_project(after, FLAG)
    assert all(not result.changed for result in results.values())
    assert {p: r.code for p, r in results.items()} == {p: after[p] for p in results}
    assert leftover_lines(results) == sorted(LEFTOVERS[case])


# --- the folding rules, one expression at a time ------------------------------


def fold(expression: str) -> str:
    """What `x = <expression>` becomes, with `f` as the flag being removed."""
    code = rewrite_source(f"x = {expression}\n", "f").code
    assert code.startswith("x = "), code
    return code[len("x = ") :].rstrip("\n")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # the spellings of a check
        ('flags.enabled("f")', "True"),
        ('flags.enabled("f", actor)', "True"),
        ('flags.enabled("f", actor)', "True"),
        ('self.flags.enabled("f", user)', "True"),
        ('Feature.enabled("f")', "True"),
        ('flags.enabled(name="f")', "True"),
        ('flags.enabled(name="f", actor=group)', "True"),
        ('flags.is_enabled("f")', "True"),
        ('flags.disabled("f")', "False"),
        ('flags.is_disabled("f", actor)', "False"),
        ("flags.enabled('f')", "True"),
        ('flags.enabled("other")', 'flags.enabled("other")'),
        ('flags.enabled(name, "f")', 'flags.enabled(name, "f")'),
        # not
        ('not flags.enabled("f")', "False"),
        ('not flags.disabled("f")', "True"),
        ('not not flags.enabled("f")', "True"),
        ('not(flags.enabled("f") and x)', "not x"),
        # and
        ('flags.enabled("f") and x', "x"),
        ('x and flags.enabled("f")', "x"),
        ('not flags.enabled("f") and f()', "False"),
        ('x and not flags.enabled("f")', "False"),
        ('x.y and flags.disabled("f")', "False"),
        ('f() and not flags.enabled("f")', "f() and False"),
        ('a and flags.enabled("f") and b', "a and b"),
        # or
        ('flags.enabled("f") or f()', "True"),
        ('x or flags.enabled("f")', "True"),
        ('a == b or flags.enabled("f")', "True"),
        ('f() or flags.enabled("f")', "f() or True"),
        ('x[0] or flags.enabled("f")', "x[0] or True"),
        ('not flags.enabled("f") or x', "x"),
        ('x or not flags.enabled("f")', "x"),
        ('flags.enabled("f") and x or y', "x or y"),
        # conditional expressions
        ('a if flags.enabled("f") else b', "a"),
        ('a if not flags.enabled("f") else b', "b"),
        ('(a + 1) if flags.enabled("f") else b', "a + 1"),
        ('(a + 1 if flags.enabled("f") else b)', "a + 1"),
        ('3 if flags.disabled("f") else (a or 5)', "a or 5"),
        ('(a, b) if flags.enabled("f") else c', "(a, b)"),
        ('True if flags.enabled("f") else False', "True"),
        # comparisons with a bool
        ('flags.enabled("f") is True', "True"),
        ('flags.enabled("f") == False', "False"),
        ('flags.enabled("f") is not False', "True"),
        ('flags.disabled("f") != True', "True"),
        # parentheses that only served the fold go, others stay
        ('(flags.enabled("f"))', "True"),
        ('[(flags.enabled("f") and x)]', "[x]"),
        ('f((flags.enabled("f") and (y for y in z)), 1)', "f((y for y in z), 1)"),
        ('(flags.enabled("f") and a) in b', "a in b"),
        ("(x)and(flags.enabled('f'))", "x"),
        ("a if(flags.enabled('f'))else b", "a"),
        ('await flags.enabled("f")', "True"),
        ('[i for i in y if flags.enabled("f")]', "[i for i in y]"),
        ('lambda: flags.enabled("f")', "lambda: True"),
    ],
)
def test_folding_rule(before: str, after: str) -> None:
    assert fold(before) == after


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # if/else keeps the taken branch, dedented
        ('if flags.enabled("f"):\n    a()\nelse:\n    b()\n', "a()\n"),
        ('if not flags.enabled("f"):\n    a()\nelse:\n    b()\n', "b()\n"),
        ('if not flags.enabled("f"):\n    a()\nc()\n', "c()\n"),
        ('if flags.enabled("f"): a()\nelse: b()\n', "a()\n"),
        # elif chains: `elif True` becomes `else`, `elif False` is dropped
        (
            'if a:\n    x()\nelif flags.enabled("f"):\n    y()\nelif b:\n    z()\nelse:\n    w()\n',
            "if a:\n    x()\nelse:\n    y()\n",
        ),
        (
            'if a:\n    x()\nelif flags.disabled("f"):\n    y()\nelif b:\n    z()\n',
            "if a:\n    x()\nelif b:\n    z()\n",
        ),
        ('if flags.disabled("f"):\n    x()\nelif b:\n    z()\n', "if b:\n    z()\n"),
        # an `if` left empty goes when its test is pure, and is inverted with an `else`
        ('if a:\n    if not flags.enabled("f"):\n        return\nb()\n', "b()\n"),
        (
            'if a > 1:\n    if flags.disabled("f"):\n        x()\nelse:\n    y()\n',
            "if not (a > 1):\n    y()\n",
        ),
        ('if a == 1:\n    assert flags.enabled("f")\nelse:\n    y()\n', "if a != 1:\n    y()\n"),
        ('if f():\n    assert flags.enabled("f")\n', "if f():\n    pass\n"),
        # the side effect of `f() or True` still runs
        ('if f() or flags.enabled("f"):\n    a()\n', "f()\na()\n"),
        ('if f() and flags.disabled("f"):\n    a()\nelse:\n    b()\n', "f()\nb()\n"),
        # early returns and the dead code after them
        (
            'def g():\n    if flags.enabled("f"):\n        return 1\n    return 2\n',
            "def g():\n    return 1\n",
        ),
        (
            'def g():\n    if flags.enabled("f"): return a\n    b()\n',
            "def g():\n    return a\n",
        ),
        ('def g():\n    if not flags.enabled("f"):\n        return\n', "def g():\n    pass\n"),
        (
            'for i in y:\n    if flags.enabled("f"):\n        continue\n    a()\nb()\n',
            "for i in y:\n    continue\nb()\n",
        ),
        # loops, asserts, bare checks
        ('while flags.disabled("f"):\n    spin()\nelse:\n    done()\n', "done()\n"),
        # a loop the flag kept running is left as it is (see below); one with its own test is not
        ('while flags.enabled("f"):\n    spin()\n', 'while flags.enabled("f"):\n    spin()\n'),
        ('while x and flags.enabled("f"):\n    spin()\n', "while x:\n    spin()\n"),
        ('assert flags.enabled("f"), "on"\nx()\n', "x()\n"),
        ('a = 1; assert flags.enabled("f")\n', "a = 1\n"),
        ('flags.enabled("f")\nx()\n', "x()\n"),
        # a local holding the check is inlined, and goes
        (
            'def g(flags):\n    on = flags.enabled("f")\n    if on:\n        a()\n',
            "def g(flags):\n    a()\n",
        ),
        # a local only the removed code read goes too; one still read stays
        (
            'def g(i):\n    actor = f"Group:{i}"\n    if not flags.enabled("f", actor):\n'
            "        return\n    return i\n",
            "def g(i):\n    return i\n",
        ),
        (
            'def g(i):\n    actor = make(i)\n    if not flags.enabled("f", actor):\n'
            "        return\n    return i\n",
            "def g(i):\n    actor = make(i)\n    return i\n",
        ),
    ],
)
def test_statement_rule(before: str, after: str) -> None:
    assert rewrite_source(before, "f").code == after


# --- folding preserves behaviour ----------------------------------------------

LEAVES = st.sampled_from(
    ["a", "b", "f()", "g()", 'flags.enabled("f")', 'flags.disabled("f")', "True"]
)


def _compound(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda x: f"(not {x})", children),
        st.builds(lambda x, y: f"({x} and {y})", children, children),
        st.builds(lambda x, y: f"({x} or {y})", children, children),
        st.builds(lambda x, y, z: f"({x} if {y} else {z})", children, children, children),
    )


EXPRESSIONS = st.recursive(LEAVES, _compound, max_leaves=8)


def _run(code: str, values: tuple[bool, bool, bool, bool]) -> tuple[object, list[str], list[str]]:
    """Run generated code: its result, what it appended to `out`, and the calls it made."""
    calls: list[str] = []
    out: list[str] = []

    def effect(name: str, value: bool) -> object:
        def call() -> bool:
            calls.append(name)
            return value

        return call

    namespace: dict[str, object] = {
        "a": values[0],
        "b": values[1],
        "f": effect("f", values[2]),
        "g": effect("g", values[3]),
        "flags": SimpleNamespace(enabled=lambda name: True, disabled=lambda name: False),
        "out": out,
    }
    exec(compile(code, "<sample>", "exec"), namespace)
    return namespace.get("result"), out, calls


@settings(max_examples=300, deadline=None)
@given(EXPRESSIONS, st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()))
def test_folding_keeps_values_and_side_effects(
    expression: str, values: tuple[bool, bool, bool, bool]
) -> None:
    for code in (
        f"result = {expression}\n",
        f"if {expression}:\n    out.append('then')\nelse:\n    out.append('else')\n",
    ):
        rewritten = rewrite_source(code, "f").code
        assert _run(rewritten, values) == _run(code, values), rewritten
        assert rewrite_source(rewritten, "f").code == rewritten  # idempotent


def _indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


def _block(statements: list[list[str]]) -> list[str]:
    return [line for statement in statements for line in statement]


SIMPLE = st.one_of(
    st.integers(0, 9).map(lambda n: [f"out.append({n})"]),
    st.integers(0, 9).map(lambda n: [f"return {n}"]),
    st.just(["f()"]),
    EXPRESSIONS.map(lambda e: [f"assert {e} or True"]),
)


def _statements(children: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    body = st.lists(children, min_size=1, max_size=3).map(_block)
    branch = st.tuples(EXPRESSIONS, body)

    def chain(branches: list[tuple[str, list[str]]], orelse: list[str] | None) -> list[str]:
        lines: list[str] = []
        for i, (test, lines_) in enumerate(branches):
            lines += [f"{'if' if i == 0 else 'elif'} {test}:", *_indent(lines_)]
        return lines + (["else:", *_indent(orelse)] if orelse is not None else [])

    return st.one_of(
        st.builds(chain, st.lists(branch, min_size=1, max_size=3), st.none() | body),
        st.builds(
            lambda test, lines: [f"while {test}:", *_indent(lines), "    break"], EXPRESSIONS, body
        ),
    )


PROGRAMS = st.lists(st.recursive(SIMPLE, _statements, max_leaves=6), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(PROGRAMS, st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()))
def test_statement_folding_keeps_behaviour(
    statements: list[list[str]], values: tuple[bool, bool, bool, bool]
) -> None:
    code = "\n".join(["def run():", *_indent(_block(statements)), "result = run()", ""])
    rewritten = rewrite_source(code, "f").code
    assert _run(rewritten, values) == _run(code, values), rewritten
    assert rewrite_source(rewritten, "f").code == rewritten


# --- which calls are checks: the flag APIs -------------------------------------

DECLARATION = (
    '[tool.rollout-bot]\nflag-apis = ["shop.features.is_on", "not shop.features.is_off"]\n'
)


@pytest.mark.parametrize(
    "source",
    [
        'x = widget.enabled("f")\n',
        'x = obj.enabled("f")\n',
        'x = self.widget.is_enabled(name="f")\n',
        'x = enabled("f")\n',  # a function of this module's own, not the `flags` package's
        'FLAG = "f"\nx = widget.disabled(FLAG)\nif widget.enabled(FLAG):\n    a()\n',
    ],
)
def test_a_call_on_what_is_no_flag_api_is_untouched_and_no_leftover(source: str) -> None:
    result = rewrite_source(source, "f", path="m.py")
    assert result.code == source and not result.changed
    # The constant stays because it is read; the calls themselves are not reported.
    assert [x.reason for x in result.leftovers] == (
        [CONSTANT_KEPT.format(name="FLAG")] if "FLAG" in source else []
    )


@pytest.mark.parametrize(
    ("source", "after"),
    [
        ("from flags import enabled\n\nx = enabled('f')\n", "x = True\n"),
        ("import flags\n\nx = flags.enabled('f')\n", "x = True\n"),
        ("from flags import engine as e\n\nx = e.is_disabled('f')\n", "x = False\n"),
        ("x = Feature.enabled('f')\n", "x = True\n"),
        # an object of a class from the `flags` package, annotated or built
        (
            "from flags.engine import Flags\n\n\ndef g(engine: Flags):\n"
            "    return engine.enabled('f')\n",
            "from flags.engine import Flags\n\n\ndef g(engine: Flags):\n    return True\n",
        ),
        (
            "from flags.engine import Flags\n\n\ndef g(store):\n    engine = Flags(store)\n"
            "    return engine.disabled('f'), Flags(store).enabled('f')\n",
            "from flags.engine import Flags\n\n\ndef g(store):\n    engine = Flags(store)\n"
            "    return False, True\n",
        ),
    ],
)
def test_default_flag_apis(source: str, after: str) -> None:
    assert rewrite_source(source, "f").code == after


def test_a_declared_flag_api_is_rewritten() -> None:
    views = (
        "from shop import features\nfrom shop.features import is_on\n\n\n"
        "def v(widget):\n    if is_on('f'):\n        a()\n    if features.is_off('f'):\n"
        "        b()\n    return widget.is_on('f')\n"
    )
    files = {"pyproject.toml": DECLARATION, "app/views.py": views}
    results = rewrite_project(files, "f")
    assert results["app/views.py"].code == "def v(widget):\n    a()\n    return widget.is_on('f')\n"
    assert [r.leftovers for r in results.values()] == [[]]
    # Without the declaration, these are no checks.
    assert not rewrite_project({"app/views.py": views}, "f")["app/views.py"].changed


def test_a_declared_method_of_a_class_and_apis_given_directly() -> None:
    source = (
        "from shop.features import Features\n\n\ndef v(features: Features, other):\n"
        "    return features.active('f'), other.active('f'), Feature.enabled('f')\n"
    )
    apis = FlagApis((FlagApi(("shop", "features", "Features", "active"), True),))
    assert rewrite_source(source, "f", apis=apis).code == (
        "from shop.features import Features\n\n\ndef v(features: Features, other):\n"
        "    return True, other.active('f'), True\n"
    )
    assert FlagApi.parse("not shop.is_off") == FlagApi(("shop", "is_off"), False)
    assert FlagApi.parse("Feature.disabled") == FlagApi(("Feature", "disabled"), False)
    assert FlagApi.parse("no way") is None


@pytest.mark.parametrize(
    ("declaration", "line", "error"),
    [
        ('[tool.rollout-bot]\nflag-apis = ["shop.features.is_on", "no way"]\n', 2, "'no way'"),
        ('[tool.rollout-bot]\nflag-apis = "shop.features.is_on"\n', 2, "not a list"),
        ('tool = "rollout-bot"\n', 1, "not a list"),
        ("[tool.rollout-bot\n", 1, "Expected"),
    ],
)
def test_an_unreadable_declaration_is_a_leftover(declaration: str, line: int, error: str) -> None:
    v = "from shop.features import is_on\n\nx = is_on('f')\ny = flags.enabled('f')\n"
    files = {"pyproject.toml": declaration, "app/v.py": v}
    results = rewrite_project(files, "f")
    [leftover] = results["pyproject.toml"].leftovers
    assert leftover.line == line
    assert leftover.reason.startswith(BAD_DECLARATION.split("(")[0])
    assert error in leftover.reason
    # What could be read is used: the defaults always, the good entries too.
    assert results["app/v.py"].code == (
        "x = True\ny = True\n"
        if "no way" in declaration
        else v.replace("flags.enabled('f')", "True")
    )


def test_a_constant_imported_from_another_module_is_followed_across_the_repository() -> None:
    files = {
        "app/names.py": 'MY_FLAG = "my_flag"\n',
        "app/views.py": "from app.names import MY_FLAG\n\n\ndef v(flags):\n"
        "    return flags.enabled(MY_FLAG)\n",
    }
    results = rewrite_project(files, "my_flag")
    assert results["app/views.py"].code == "def v(flags):\n    return True\n"
    assert results["app/names.py"].code == "\n"
    assert all(r.leftovers == [] for r in results.values())
    # Alone, the file cannot know what MY_FLAG holds.
    assert not rewrite_source(files["app/views.py"], "my_flag").changed


# --- a `while` loop the flag kept running is a person's call ----------------------


@pytest.mark.parametrize(
    ("source", "leftovers"),
    [
        ('while flags.enabled("f"):\n    spin()\n', [f"m.py:1: {WHILE_LOOP}"]),
        ('while f() or flags.enabled("f"):\n    spin()\n', [f"m.py:1: {WHILE_LOOP}"]),
        (
            'while flags.enabled("f"):\n    if not flags.enabled("f"):\n        stop()\n',
            [f"m.py:1: {WHILE_LOOP}", f"m.py:2: {CHECK_KEPT}"],
        ),
        (
            'FLAG = "f"\n\nwhile flags.enabled(FLAG):\n    spin()\n',
            [f"m.py:1: {CONSTANT_KEPT.format(name='FLAG')}", f"m.py:3: {WHILE_LOOP}"],
        ),
        # a local the loop reads keeps its check, and is not inlined elsewhere either
        (
            'def g(flags):\n    on = flags.enabled("f")\n    if on:\n        a()\n'
            "    while on:\n        b()\n",
            [f"m.py:2: {CHECK_KEPT}"],
        ),
    ],
)
def test_a_while_loop_over_the_flag_is_left_as_it_is_and_reported(
    source: str, leftovers: list[str]
) -> None:
    result = rewrite_source(source, "f", path="m.py")
    assert result.code == source and not result.changed
    assert [str(x) for x in result.leftovers] == leftovers


def test_the_rest_of_a_file_with_a_kept_loop_is_rewritten() -> None:
    source = (
        "import flags\n\n"
        'if flags.enabled("f"):\n    a()\nwhile flags.enabled("f"):\n    b()\n'
        'while not flags.enabled("f"):\n    c()\n'
    )
    result = rewrite_source(source, "f", path="m.py")
    assert result.code == 'import flags\n\na()\nwhile flags.enabled("f"):\n    b()\n'
    assert [str(x) for x in result.leftovers] == [f"m.py:4: {WHILE_LOOP}"]


# --- what is kept, and what is reported ---------------------------------------


def test_untouched_file_is_returned_as_is() -> None:
    source = "x  =  1   # odd\n\n\n\ndef f( a ):\n    return a\n"
    result = rewrite_source(source, "f")
    assert result.code == source
    assert not result.changed
    assert result.leftovers == []


def test_formatting_and_comments_around_a_check_stay_byte_for_byte() -> None:
    around = "x  =  {'a':1,\n        'b' :2}   # odd\n\n\n\ndef g( a ):  # keep\n"
    source = around + '    if flags.enabled("f"):\n        return a\n    return None\n# end\n'
    assert rewrite_source(source, "f").code == around + "    return a\n# end\n"


def test_other_flags_checks_stay() -> None:
    source = (
        'if flags.enabled("f") and flags.enabled("g"):\n    a()\nif flags.disabled("g"):\n    b()\n'
    )
    assert (
        rewrite_source(source, "f").code
        == 'if flags.enabled("g"):\n    a()\nif flags.disabled("g"):\n    b()\n'
    )


def test_constant_nothing_here_reads_is_kept_alone_and_reported() -> None:
    # Alone, the file cannot know whether another module imports the constant.
    source = 'FLAG = "f"\nOTHER = "g"\n'
    result = rewrite_source(source, "f", path="names.py")
    assert not result.changed
    assert [str(x) for x in result.leftovers] == [
        f"names.py:1: {CONSTANT_KEPT.format(name='FLAG')}"
    ]


def test_constant_read_here_goes_with_its_checks() -> None:
    source = 'FLAG = "f"\n\n\ndef g(flags):\n    return flags.enabled(FLAG)\n'
    assert rewrite_source(source, "f").code == "def g(flags):\n    return True\n"


def test_constant_still_imported_elsewhere_is_kept() -> None:
    files = {
        "app/names.py": 'FLAG = "f"\n',
        "app/views.py": "from app.names import FLAG\n\n\ndef v(flags):\n"
        "    flags.store.set(FLAG, True)\n    return flags.enabled(FLAG)\n",
    }
    results = rewrite_project(files, "f")
    assert not results["app/names.py"].changed
    assert results["app/views.py"].code == (
        "from app.names import FLAG\n\n\ndef v(flags):\n"
        "    flags.store.set(FLAG, True)\n    return True\n"
    )
    assert [str(x) for r in results.values() for x in r.leftovers] == [
        f"app/names.py:1: {CONSTANT_KEPT.format(name='FLAG')}",
        f"app/views.py:5: {CONSTANT_USED.format(name='FLAG')}",
    ]


def test_reexported_constant_and_import_are_kept() -> None:
    files = {
        "pkg/__init__.py": 'from .names import FLAG\n\n__all__ = ["FLAG"]\n',
        "pkg/names.py": 'FLAG = "f"\n',
        "pkg/jobs.py": "import pkg\n\n\ndef run(flags):\n"
        "    if pkg.FLAG and flags.enabled(pkg.FLAG):\n        go()\n",
    }
    results = rewrite_project(files, "f")
    assert not results["pkg/__init__.py"].changed
    assert not results["pkg/names.py"].changed
    assert results["pkg/jobs.py"].code == (
        "import pkg\n\n\ndef run(flags):\n    if pkg.FLAG:\n        go()\n"
    )
    assert [str(x) for x in results["pkg/__init__.py"].leftovers] == [
        f"pkg/__init__.py:1: {CONSTANT_KEPT.format(name='FLAG')}"
    ]


def test_private_helper_still_imported_by_a_test_is_kept() -> None:
    files = {
        "app/views.py": 'def v(flags):\n    if flags.enabled("f"):\n        return 1\n'
        "    return _old()\n\n\ndef _old():\n    return 2\n",
        "tests/test_views.py": "from app.views import _old\n\n\ndef test_old():\n"
        "    assert _old() == 2\n",
    }
    results = rewrite_project(files, "f")
    assert results["app/views.py"].code == (
        "def v(flags):\n    return 1\n\n\ndef _old():\n    return 2\n"
    )
    alone = rewrite_source(files["app/views.py"], "f")
    assert alone.code == "def v(flags):\n    return 1\n"


def test_mentions_are_reported_at_their_line_in_the_new_file() -> None:
    source = (
        'import flags\n\nif flags.enabled("chat_history"):\n    go()\n'
        "# chat_history was rolled out in 17.0\n"
        'log("chat_history is on")\n'
        'name = f"{prefix}_history"\n'
        'base = "chat_" + kind\n'
    )
    result = rewrite_source(source, "chat_history", path="m.py")
    # `import flags` went with its only use; lines are those of the new file.
    assert result.code.splitlines()[0] == "go()"
    assert [str(x) for x in result.leftovers] == [
        f"m.py:2: {IN_COMMENT}",
        f"m.py:3: {IN_STRING}",
        f"m.py:4: {BUILT_AT_RUN_TIME}",
        f"m.py:5: {BUILT_AT_RUN_TIME}",
    ]


def test_unparsable_file_is_left_alone_and_reported_when_it_names_the_flag() -> None:
    broken = 'if flags.enabled("f":\n'
    result = rewrite_source(broken, "f", path="broken.py")
    assert result.code == broken and not result.changed
    assert len(result.leftovers) == 1
    assert result.leftovers[0].reason.startswith(UNPARSABLE.split("{")[0])
    assert rewrite_source("def (:\n", "other").leftovers == []


@pytest.mark.parametrize(
    ("piece", "expected"),
    [
        ("product_intelligence_", True),
        ("_event_tracking", True),
        ("_database_", True),
        ("tracking", False),  # a plain word, glued to nothing
        ("_tracking_id", False),  # not a part of the name
        ("_ev", False),  # too short to mean anything
        ("product_intelligence_database_event_tracking", False),  # the name itself
    ],
)
def test_fragment(piece: str, expected: bool) -> None:
    assert fragment(piece, FLAG) is expected


def test_find_evaluations_resolves_literals_and_constants() -> None:
    files = {
        "app/names.py": 'TRACKING = "tracking"\n',
        "app/views.py": "from app import names\nfrom app.names import TRACKING as T\n"
        "LOCAL = 'local'\n\n\ndef v(flags, x):\n"
        "    flags.enabled('literal')\n    flags.enabled(names.TRACKING)\n"
        "    flags.disabled(T, x)\n    flags.enabled(name=LOCAL)\n"
        "    flags.enabled(x)\n    flags.enabled(f'{x}_y')\n",
        "README.md": "flags.enabled('not_python')\n",
    }
    assert sorted(find_evaluations(files), key=lambda e: e.line) == [
        Evaluation("app/views.py", 7, "literal", True),
        Evaluation("app/views.py", 8, "tracking", True),
        Evaluation("app/views.py", 9, "tracking", False),
        Evaluation("app/views.py", 10, "local", True),
    ]


def test_find_calls_tells_checks_from_look_alikes() -> None:
    files = {
        "pyproject.toml": DECLARATION,
        "app/v.py": "from shop.features import is_on\n\n\ndef v(widget, flags):\n"
        "    widget.enabled('a')\n    is_on('b')\n    flags.enabled('c')\n    widget.is_on('d')\n",
    }
    calls = find_calls(files)
    assert sorted(e.name for e in calls.evaluations) == ["b", "c"]
    assert sorted(calls.lookalikes) == [("app/v.py", 5, "a"), ("app/v.py", 8, "d")]
    assert [e.name for e in find_evaluations(files, apis=FlagApis())] == ["c"]


def test_spellings_are_documented() -> None:
    assert dict(SPELLINGS) == {
        "enabled": True,
        "is_enabled": True,
        "disabled": False,
        "is_disabled": False,
    }
