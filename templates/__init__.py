"""The Jinja templates of the rollout issue and the bot's comments.

`templates.render` is the one place that renders them (`render_issue`, `render`);
the `*.j2` files sit beside it and ship as package data.
"""
