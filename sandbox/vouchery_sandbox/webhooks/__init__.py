"""Webhooks: the event catalogue and outbox (`events`), and the background deliveries (`dispatch`).

The Subscriptions API itself is `handlers/subscriptions.py` over `state/subscriptions.py`.
"""
