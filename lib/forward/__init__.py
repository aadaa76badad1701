"""Forwarding: every matching notification delivered to an HTTP endpoint the user already runs.

The callback (and every other entry point) queues one message per matching destination on an SQS FIFO
queue before it acknowledges (lib/forward/enqueue.py); the ``forward`` function, with that queue as its
event source, signs and posts each message (lib/forward/delivery.py), retrying with backoff and moving
what cannot be delivered to the dead-letter queue. docs/forwarding.md is the user's page.
"""
