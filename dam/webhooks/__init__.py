"""Webhook subscriptions and their signed, retried delivery from the outbox."""
