"""Notifications: the in-app inbox, email through SMTP when configured, and a
`notification.created` event (so webhooks) for each. A reaction to domain events."""
