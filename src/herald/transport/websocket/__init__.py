"""Zaqar's WebSocket transport: JSON or MessagePack frames naming an action, over the same
service as HTTP, plus push of new messages to the sockets subscribed to a queue."""
