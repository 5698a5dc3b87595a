"""Snowplow database event tracking for `group_stages`, gated by a flag."""
