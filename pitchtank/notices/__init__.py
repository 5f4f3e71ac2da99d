"""Email notices: an outbox written in the caller's transaction, delivered after it commits."""
