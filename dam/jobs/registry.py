"""What a job handler may tell the worker. Which handler runs which job kind is decided in one
place, the composition root `dam.worker`; no module here knows the domains."""

from __future__ import annotations


class RetryLater(Exception):
    """Raised by a handler to be retried without counting as an error in the logs."""


class GiveUp(Exception):
    """Raised by a handler whose job can never succeed (a file no renderer can draw): the job
    fails at once with this reason instead of being retried. Whatever the handler committed
    before raising stays committed."""
