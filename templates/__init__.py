"""The Jinja templates of the rollout issue and the bot's comments."""
