"""What a step asks the bot to do itself on GitLab: open a merge request, answer a question.

Kept apart from the delivery flow in `webhook.bot`: these read and write the
repository (through `gitlab_ops`), while the bot decides whether they may run.
"""

from __future__ import annotations

from collections.abc import Callable

from flags.commands import Context
from flags.errors import Refusal
from gitlab_ops import deployments, merge_requests
from gitlab_ops.chatops import AutoDeployStatus, Command, ReleaseCheck
from gitlab_ops.client import GitLab
from gitlab_ops.fully_on import production_state
from gitlab_ops.repository import Repository
from webhook.step_outcome import StepOutcome

# Steps without a command that the bot carries out: it opens their merge request.
MERGE_REQUEST_STEPS = frozenset({"cleanup-mr", "default-enabling-mr"})


def open_merge_request(
    client: GitLab,
    context_for: Callable[[str], Context],
    project_id: int,
    iid: int,
    flag: str,
    step: str,
    text: str,
) -> StepOutcome:
    """Open (or reuse) the step's merge request; `context_for(issue_url)` reads the flags."""
    try:
        issue_url = client.issue(project_id, iid).web_url
        repo = Repository(client, project_id)
        if step == "cleanup-mr":
            # A tick never forces: the flag must be on for everyone in production.
            production = production_state(context_for(issue_url), flag)
            opened = merge_requests.open_cleanup(repo, flag, issue_url, production=production)
        else:
            opened = merge_requests.open_default_enable(repo, flag, issue_url)
    except Refusal as exc:
        return StepOutcome("refused", step, text, reason=str(exc))
    mr = opened.merge_request
    verb = "Opened" if opened.created else "Reused the open"
    answer = f"{verb} merge request [{mr.title}]({mr.web_url})."
    if opened.plan is not None and opened.plan.leftovers:
        answer += f" It lists {len(opened.plan.leftovers)} reference(s) left for you to check."
    return StepOutcome("applied", step, text, answer=answer)


def answer(client: GitLab, project_id: int, command: Command) -> str:
    """Deployment questions are read-only: answered afresh, never remembered."""
    if isinstance(command, AutoDeployStatus):
        return deployments.auto_deploy_status(
            Repository(client, project_id), command.sha
        ).to_markdown()
    assert isinstance(command, ReleaseCheck)
    return deployments.release_check(
        client, command.merge_request_url, command.milestone
    ).to_markdown()
