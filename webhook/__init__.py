"""The HTTP edge: the Flask app factory (and, next, webhook parsing, inbox and worker)."""
