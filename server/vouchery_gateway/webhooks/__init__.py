"""Vouchery's webhooks as cache hints: the receiver, the fleet-wide invalidation bus, and the delivery
health that lets lookups be cached longer while Vouchery keeps the caches coherent (docs/webhooks.md)."""
