"""Forwarding: every matching notification delivered to an HTTP endpoint the user already runs.

The callback (and every other entry point) queues one message per matching destination on that
destination's own SQS FIFO queue before it acknowledges (lib/forward/enqueue.py; the queues' names and URLs:
lib/forward/names.py); the ``forward`` function, with each destination's queue as an event source, signs and
posts each message (lib/forward/delivery.py), retrying with backoff and moving what cannot be delivered to the
destination's dead-letter queue. docs/forwarding.md is the user's page.
"""
