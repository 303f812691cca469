"""Data access: rows in and out of SQLite, their wire JSON, and their engine models."""
