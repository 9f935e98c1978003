"""The Zaqar v2 HTTP API as a plain ASGI application."""
