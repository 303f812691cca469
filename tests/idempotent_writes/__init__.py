"""End-to-end tests of idempotent checkout writes."""
