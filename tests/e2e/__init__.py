"""End-to-end tier: the local stack over HTTP."""
