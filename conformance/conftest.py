"""Where the reference data is, and the test suite's fixtures (databases, fakes) for reuse."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# ./scripts/conformance refuses to start without it; the variable serves a copy elsewhere.
SHARED_DATA = Path(os.environ.get("ROLLOUT_BOT_SHARED_DATA", REPO.parent / "shared" / "data"))
SHARED = SHARED_DATA.parent
GITLAB_DATA = SHARED_DATA / "gitlab"
GITLAB_FLAGS = GITLAB_DATA / "feature_flags"
WEBHOOK_PAYLOADS = GITLAB_DATA / "webhooks"
API_EXAMPLES = GITLAB_DATA / "api"
IGLU = SHARED_DATA / "iglu"
SEED = SHARED / "reference" / "rollout-issue-seed.txt"

pytest_plugins = ["tests.conftest"]
