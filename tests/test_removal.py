"""The removal plan: actions, changelog trailer, and what is left for a person."""

from __future__ import annotations

from flags.removal import plan
from gitlab_ops.merge_requests import cleanup_description

FLAG = "my_flag"
DEFINITION = """---
name: my_flag
introduced_by_url: https://gitlab.com/g/p/-/merge_requests/1
rollout_issue_url: https://gitlab.com/g/p/-/issues/2
milestone: '17.3'
type: beta
group: group::x
default_enabled: {default}
"""
FILES = {
    "config/feature_flags/beta/my_flag.yml": DEFINITION.format(default="false"),
    "app/views.py": 'def view(flags):\n    return "new" if flags.enabled("my_flag") else "old"\n',
    "app/frontend.js": "if (gon.features.myFlag) { show(); }\n",
    "doc/flags.md": "The `my_flag` flag gates the new view.\n",
}


def test_the_plan_deletes_rewrites_and_lists_leftovers() -> None:
    removal = plan(FILES, FLAG)
    assert removal.actions() == [
        {"action": "delete", "file_path": "config/feature_flags/beta/my_flag.yml"},
        {
            "action": "update",
            "file_path": "app/views.py",
            "content": 'def view(flags):\n    return "new"\n',
        },
    ]
    assert [(item.path, item.line) for item in removal.leftovers] == [
        ("app/frontend.js", 1),
        ("doc/flags.md", 1),
    ]
    assert removal.changelog == "Changelog: added"
    assert removal.commit_message().endswith("\n\nChangelog: added\n")
    description = cleanup_description(removal, "https://gitlab.com/g/p/-/issues/2")
    assert "- [ ] `app/frontend.js:1`: the flag's name is mentioned here" in description
    assert "- [ ] `doc/flags.md:1`" in description
    assert "Rollout issue: https://gitlab.com/g/p/-/issues/2" in description


def test_a_flag_already_on_by_default_is_only_removed() -> None:
    files = {**FILES, "config/feature_flags/beta/my_flag.yml": DEFINITION.format(default="true")}
    assert plan(files, FLAG).changelog == "Changelog: removed"


def test_nothing_to_remove() -> None:
    assert plan({"app.py": "x = 1\n"}, FLAG).empty


def test_the_plan_uses_the_flag_apis_the_repository_declares() -> None:
    files = {
        **FILES,
        "pyproject.toml": '[tool.rollout-bot]\nflag-apis = ["shop.features.is_on"]\n',
        "app/shop.py": "from shop.features import is_on\n\n\ndef buy(widget):\n"
        '    widget.enabled("my_flag")\n    return "new" if is_on("my_flag") else "old"\n',
    }
    removal = plan(files, FLAG)
    assert removal.rewritten["app/shop.py"] == (
        'def buy(widget):\n    widget.enabled("my_flag")\n    return "new"\n'
    )
    # The widget's own `enabled` is no flag check, so it is not listed either.
    assert [item.path for item in removal.leftovers] == ["app/frontend.js", "doc/flags.md"]


def test_an_unreadable_declaration_is_listed_for_a_person() -> None:
    files = {**FILES, "pyproject.toml": '[tool.rollout-bot]\nflag-apis = ["no way"]\n'}
    removal = plan(files, FLAG)
    assert [(item.path, item.line) for item in removal.leftovers][-1] == ("pyproject.toml", 2)
    assert "app/views.py" in removal.rewritten  # the default APIs still apply
