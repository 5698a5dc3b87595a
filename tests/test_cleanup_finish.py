"""`rollout-bot cleanup finish`: state gone, boxes ticked, issue closed; twice is once."""

from __future__ import annotations

from gitlab_ops.finish import FINISHED_STEPS
from tests.bot_stack import FLAG, bot_stack


def test_finish_deletes_ticks_comments_closes_and_repeats_nothing(database_url: str) -> None:
    with bot_stack(database_url) as stack:
        iid = stack.open_issue()
        stack.cli("feature", "set", FLAG, "true", "--dev", "--staging", "--staging-ref")
        stack.cli("feature", "set", FLAG, "true", "--production")
        assert stack.state("production") is not None

        out = stack.cli("cleanup", "finish", FLAG, "--merge-request", "gitlab-org/gitlab!7")
        for env in ("dev", "staging", "staging-ref", "production"):
            assert stack.state(env) is None
        assert "state deleted in dev, staging, staging-ref, production" in out
        assert all(stack.checked(iid, step) for step in FINISHED_STEPS)
        assert not stack.checked(iid, "cleanup-released-command")  # not the bot's to tick
        issue = stack.fake.issue(stack.project, iid)
        assert issue.state == "closed"
        # The two terminal changes commented, then the finish.
        *changes, note = stack.bot_notes(iid)
        assert len(changes) == 2 and all("from a terminal" in c for c in changes)
        assert f"The cleanup of `{FLAG}` is finished after gitlab-org/gitlab!7 was merged" in note
        rows = [r for r in stack.runtime.store.history(FLAG) if r.action == "delete"]
        assert {r.environment for r in rows} == {"dev", "staging", "staging-ref", "production"}
        assert {(r.who, r.source) for r in rows} == {
            (stack.runtime.settings.user, "cleanup finish")
        }
        version, requests = stack.runtime.store.version(), len(stack.fake.requests)

        again = stack.cli("cleanup", "finish", FLAG)
        assert "state deleted in no environment" in again
        assert "ticked nothing new" in again and "already closed" in again
        assert stack.runtime.store.version() == version
        assert len(stack.bot_notes(iid)) == 3
        writes = [r for r in stack.fake.requests[requests:] if r.method in ("POST", "PUT")]
        assert writes == []
        stack.wait_idle()  # the bot ignored the hooks of its own edits
        assert len(stack.bot_notes(iid)) == 3
