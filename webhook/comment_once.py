"""Posting a delivery's one comment: recorded before, looked for only after a crash."""

from __future__ import annotations

from gitlab_ops import lease
from gitlab_ops.client import GitLab
from webhook import comments
from webhook.comment_ledger import FRESH, POSTED, CommentLedger


def comment_once(
    client: GitLab,
    ledger: CommentLedger,
    project_id: int,
    iid: int,
    delivery_key: str,
    body: str,
) -> int:
    """Post `body` unless this delivery's comment exists already; returns the note id.

    The lease is checked first, so a worker that lost the delivery posts nothing; the
    holder records its intent (`CommentLedger.begin`) before posting. Only an intent
    without a note id sends us looking at GitLab: the newest notes, one page.
    """
    lease.guard()
    state = ledger.begin(delivery_key)
    if state == POSTED:
        note_id = ledger.note_id(delivery_key)
        assert note_id is not None
        return note_id
    if state != FRESH:
        found = client.recent_note_containing(
            project_id, iid, comments.delivery_marker(delivery_key)
        )
        if found is not None:
            ledger.posted(delivery_key, found)
            return found
        lease.guard()
    note_id = client.create_note(project_id, iid, comments.fit(body, delivery_key))
    ledger.posted(delivery_key, note_id)
    return note_id
