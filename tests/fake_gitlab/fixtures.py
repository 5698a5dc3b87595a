"""pytest fixtures for the fake GitLab. Import them into a conftest.py:

    from tests.fake_gitlab.fixtures import fake_gitlab_fixture, hook_receiver_fixture  # noqa: F401

The functions are registered under the names `fake_gitlab` and `hook_receiver`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_gitlab.fake import FakeGitLab
from tests.fake_gitlab.receiver import HookReceiver


@pytest.fixture(name="fake_gitlab")
def fake_gitlab_fixture() -> Iterator[FakeGitLab]:
    """A started, empty FakeGitLab; deliveries are sent synchronously."""
    with FakeGitLab() as fake:
        yield fake


@pytest.fixture(name="hook_receiver")
def hook_receiver_fixture() -> Iterator[HookReceiver]:
    """A started HookReceiver answering 200; pass `hook_receiver.url` to `add_hook`."""
    with HookReceiver() as receiver:
        yield receiver
