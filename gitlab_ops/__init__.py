"""GitLab-side work that is not about webhooks.

The python-gitlab client wrapper and its retry policy, repository reads, the
cleanup and default-enable merge requests, deployment answers, opening and
finishing rollout issues. The webhook worker and the CLI (and so the CI jobs)
call it alike.
"""
