"""Names of the feature flags this app checks."""

# Tracks group stage events in Snowplow.
TRACKING = "product_intelligence_database_event_tracking"
# Chat history as context for Duo.
CHAT_HISTORY = "ai_chat_history_context"
