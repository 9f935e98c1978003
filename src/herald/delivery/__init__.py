"""Delivery of queue messages to subscribers: the engine working the outbox, and its senders."""
