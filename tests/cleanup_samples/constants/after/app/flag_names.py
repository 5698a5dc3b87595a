"""Names of the feature flags this app checks."""

# Chat history as context for Duo.
CHAT_HISTORY = "ai_chat_history_context"
