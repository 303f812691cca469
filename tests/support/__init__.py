"""Shared test support: one place for what many test folders need."""
