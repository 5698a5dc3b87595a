"""The dashboard: read-only pages (flags grid, one flag, bot health) and their JSON twins.

Reads (`reads`) are apart from the pure view models (`grid`, `flag_page`, `chart`,
`health`), which are apart from the routes and the `.j2` templates.
"""

from webhook.dashboard.routes import blueprint

__all__ = ["blueprint"]
