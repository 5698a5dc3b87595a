"""rollout-bot: the CLI, configuration and database glue around flags/, webhook/, tracking/."""
